import ArbiterApp
import ArbiterCore
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/events`: support and billing systems submit events and get the decision back.
struct EventsController {
    let intake: Intake
    let decisions: any DecisionStore

    var endpoints: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .post(use: submit)
            .get(":id", use: get)
    }

    /// Validates, decides and stores the event; 201 with the decision once it is durable.
    /// The same `source` + `id` again: the original response with `Idempotent-Replayed: true`
    /// when the body is the same, 409 when it differs.
    func submit(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try context.require(.submitter)
        let event = try Event(envelope: .object(try await JSONBody.object(request, context: context)))
        let result: Intake.Result
        do {
            result = try await intake.submit(event, submittedBy: caller.id)
        } catch is ShuttingDown {
            throw Problem(status: .serviceUnavailable, title: "Shutting down",
                          detail: "the service is stopping and did not take this event; send it again (same id) to another instance or after the restart")
        }
        switch result {
        case .decided(let body):
            return Self.created(body, replayed: false)
        case .replayed(let body):
            return Self.created(body, replayed: true)
        case .conflict(let eventId):
            throw Refusal.conflict("source '\(event.source)' already sent event id '\(event.id)' (stored as \(eventId)) with a different body; use a new id for a new event", title: "Idempotency conflict")
        }
    }

    static func created(_ body: String, replayed: Bool) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if replayed { headers[.idempotentReplayed] = "true" }
        return Response(status: .created, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// The event as stored, with its decision's id.
    func get(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Role.readers)
        let id = try context.parameters.require("id")
        guard let event = try await decisions.event(id: id) else { throw Refusal.notFound("no event with id '\(id)'") }
        return JSONResponse(event.json)
    }
}
