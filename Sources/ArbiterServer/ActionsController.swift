import ArbiterCore
import ArbiterDelivery
import ArbiterSQLite
import Foundation
import GRDB
import Hummingbird

/// `/v1/actions`: operators watch ERP delivery, and retry or cancel dead letters.
struct ActionsController {
    let database: AppDatabase
    let dispatcher: Dispatcher

    static let readers: [Role] = [.operator, .auditor]

    var endpoints: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .get(use: list)
            .get(":id", use: get)
            .post(":id/retry", use: retry)
            .post(":id/cancel", use: cancel)
    }

    static let statuses = ["pending", "delivered", "dead", "cancelled"]

    /// `?status=pending|delivered|dead|cancelled&account_id=&cursor=&limit=`, in queue order.
    func list(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.readers)
        let query = request.uri.queryParameters
        var errors: [FieldError] = []
        let status = query["status"].map(String.init)
        if let status, !Self.statuses.contains(status) {
            errors.append(FieldError("status", "must be one of \(Self.statuses.joined(separator: ", "))"))
        }
        let limit = RequestFields.limit(query["limit"], &errors)
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        let account = query["account_id"].map(String.init)
        let after = query["cursor"].map(String.init)
        let page = try await database.writer.read { [limit] db in
            try Outbox.list(db, status: status, accountId: account, after: after, limit: limit)
        }
        return JSONResponse(.object(["items": .array(page.items), "next_cursor": page.next.map(JSONValue.string) ?? .null]))
    }

    /// The action with every attempt, and what holds it back if anything does.
    func get(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.readers)
        let id = try context.parameters.require("id")
        guard let action = try await database.writer.read({ db in try Outbox.detail(db, id: id) }) else { throw Self.notFound(id) }
        return JSONResponse(action)
    }

    /// A dead letter goes back in line, due now, with a fresh set of attempts. `{"comment"?}`
    func retry(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.operator)
        let id = try context.parameters.require("id")
        let body = try await JSONBody.object(request, context: context, allowEmpty: true)
        var errors = RequestFields.unknown(body, allowed: ["comment"])
        let comment = RequestFields.comment(body, &errors)
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        try await change(id) { db, now in try Outbox.retry(db, id: id, by: caller.id, comment: comment, now: now) }
        dispatcher.notify()
        return try await get(request, context: context)
    }

    /// A pending or dead action is never sent; the account's line moves on. `{"comment"}` (required)
    func cancel(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.operator)
        let id = try context.parameters.require("id")
        let body = try await JSONBody.object(request, context: context, allowEmpty: true)
        var errors = RequestFields.unknown(body, allowed: ["comment"])
        let comment = RequestFields.comment(body, &errors)
        if comment == nil && errors.isEmpty { errors.append(FieldError("comment", "is required: say why the action must not reach the ERP")) }
        guard errors.isEmpty, let comment else { throw Refusal.invalid(errors) }
        try await change(id) { db, now in try Outbox.cancel(db, id: id, by: caller.id, comment: comment, now: now) }
        dispatcher.notify()
        return try await get(request, context: context)
    }

    /// Runs an operator's change while the dispatcher keeps away from the action.
    func change(_ id: String, _ body: @escaping @Sendable (Database, Date) throws -> Void) async throws {
        let done: Void? = try await dispatcher.whileHeld(id) {
            try await database.writer.write { db in try body(db, Date()) }
        }
        if done == nil {
            throw Refusal.conflict("action \(id) is being sent to the ERP right now; look again in a moment", title: "Being delivered")
        }
    }

    static func notFound(_ id: String) -> Refusal {
        Refusal.notFound("no outbox action with id '\(id)'")
    }
}
