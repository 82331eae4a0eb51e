import ArbiterApp
import ArbiterCore
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/inbound`: webhooks as the vendors send them (authenticated by each source's own
/// signature, no API key), and the inbox operators work: messages, dead letters, replays.
struct InboundController {
    let inbox: Inbox

    /// `POST /v1/inbound/{source}`, added outside the API-key group.
    func addReceiver(to router: Router<AppRequestContext>) {
        router.post("/v1/inbound/:source", use: receive)
    }

    /// The routes under `/v1/inbound` that need an API key.
    var endpoints: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .get("messages", use: list)
            .get("messages/:id", use: get)
            .post("messages/:id/replay", use: replay)
            .get("failures", use: failures)
    }

    static let operators: [Role] = [.operator, .auditor]

    /// Verifies, stores, maps and decides; 200 with the message once it is stored and its
    /// events decided. A vendor's retry of a processed message gets the same answer with
    /// `Idempotent-Replayed: true`. A mapping error or an unknown customer is still a 200 (the
    /// message is kept as a dead letter): the vendor has nothing to retry.
    func receive(_ request: Request, context: AppRequestContext) async throws -> Response {
        let name = try context.parameters.require("source")
        let body = try await JSONBody.bytes(request, limit: JSONBody.limit)
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let answer: Inbox.Answer
        do {
            answer = try await inbox.receive(source: name, headers: headers, body: Array(body.readableBytesView))
        } catch let rejection as InboundRejection {
            throw Problem(status: rejection.status == .unauthorized ? .unauthorized : .badRequest,
                          title: "Webhook not verified", detail: rejection.reason)
        } catch let unavailable as SourceUnavailable {
            throw Problem(status: .serviceUnavailable, title: "Source not configured",
                          detail: "source \(unavailable.source) has no signing secret (\(unavailable.origin)); the request was not stored")
        } catch is ShuttingDown {
            throw Problem(status: .serviceUnavailable, title: "Shutting down", detail: "the service is stopping; send the webhook again")
        }
        var fields: HTTPFields = [.contentType: "application/json"]
        if answer.replayed { fields[.idempotentReplayed] = "true" }
        return Response(status: .ok, headers: fields,
                        body: .init(byteBuffer: ByteBuffer(bytes: CanonicalJSON.encode(Self.json(answer.message, withBody: false)))))
    }

    func list(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.operators)
        let query = request.uri.queryParameters
        var errors: [FieldError] = []
        var filter = InboundFilter()
        if let source = query["source"] { filter.source = String(source) }
        if let status = query["status"] {
            if let value = InboundMessage.Status(rawValue: String(status)) { filter.status = value } else {
                errors.append(FieldError("status", "must be one of \(InboundMessage.Status.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
        }
        if let limit = query["limit"] {
            if let n = Int(limit), (1...500).contains(n) { filter.limit = n } else { errors.append(FieldError("limit", "must be 1-500")) }
        }
        if let cursor = query["cursor"] { filter.before = String(cursor) }
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        let page = try await inbox.messages(filter)
        return JSONResponse(.object(["messages": .array(page.items.map { Self.json($0, withBody: false) }),
                                     "next_cursor": page.next.map(JSONValue.string) ?? .null]))
    }

    func get(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.operators)
        return JSONResponse(Self.json(try await inbox.message(id: try context.parameters.require("id")), withBody: true))
    }

    /// Processes a failed or unmatched message again (after the mapping was fixed or the
    /// account synced); audited.
    func replay(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.operator)
        return JSONResponse(Self.json(try await inbox.replay(id: try context.parameters.require("id"), by: caller.id), withBody: false))
    }

    /// The latest requests refused by verification on this instance (a wrong secret, a clock).
    func failures(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.operators)
        return JSONResponse(.object(["failures": .array(inbox.failures.all.reversed().map { failure in
            .object(["source": .string(failure.source), "reason": .string(failure.reason), "at": .string(Timestamp.format(failure.at))])
        })]))
    }

    static func json(_ message: InboundMessage, withBody: Bool) -> JSONValue {
        var fields: [String: JSONValue] = [
            "id": .string(message.id), "source": .string(message.source), "external_id": .string(message.externalId),
            "vendor_type": message.vendorType.map(JSONValue.string) ?? .null, "received_at": .string(message.receivedAt),
            "updated_at": .string(message.updatedAt), "status": .string(message.outcome.status.rawValue),
            "detail": message.outcome.detail.map(JSONValue.string) ?? .null,
            "account_id": message.outcome.accountId.map(JSONValue.string) ?? .null,
            "events": .array(message.outcome.events), "attempts": .int(message.attempts),
        ]
        if withBody {
            fields["headers"] = .object(message.headers.mapValues(JSONValue.string))
            fields["body"] = .string(message.body)
        }
        return .object(fields)
    }
}
