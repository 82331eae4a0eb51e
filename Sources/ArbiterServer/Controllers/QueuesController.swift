import ArbiterApp
import ArbiterCore
import Foundation
import Hummingbird

/// `/v1/queues`: the review queues and their items.
struct QueuesController {
    let desk: ReviewDesk

    var endpoints: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .get(use: list)
            .get(":name/items", use: items)
    }

    func list(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(reviewReaders)
        let now = Date()
        let queues = try await desk.queues()
        return JSONResponse(.object(["queues": .array(queues.map { $0.json(desk.settings.queue($0.name), now: now) })]))
    }

    /// `?state=open|claimed|escalated|approved|rejected|decided&cursor=&limit=`, oldest first.
    func items(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(reviewReaders)
        let name = try context.parameters.require("name")
        let query = request.uri.queryParameters
        var errors: [FieldError] = []
        let states = reviewStates(query["state"].map(String.init))
        if states == nil {
            errors.append(FieldError("state", "must be one of open, claimed, escalated, approved, rejected, decided"))
        }
        let limit = RequestFields.limit(query["limit"], &errors)
        guard errors.isEmpty, let states else { throw Refusal.invalid(errors) }
        let after = query["cursor"].map(String.init)
        let page = try await desk.items(queue: name, states: states, after: after, limit: limit)
        return JSONResponse(.object(["queue": .string(name), "items": .array(page.items.map(\.json)),
                                     "next_cursor": page.next.map(JSONValue.string) ?? .null]))
    }
}
