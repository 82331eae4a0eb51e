import ArbiterApp
import ArbiterCore
import ArbiterSQLite
import Foundation
import GRDB
import Hummingbird

/// The review desk: what reviewers do to items, shared by the JSON API and the console so both
/// enforce the same controls (``ReviewRules``) and record the same history, audit and metrics.
final class ReviewDesk: Sendable {
    let database: AppDatabase
    let settings: ReviewSettings
    let metrics: ServiceMetrics
    /// Called after a final approval queued actions for the ERP.
    let onQueued: @Sendable () -> Void

    init(database: AppDatabase, settings: ReviewSettings, metrics: ServiceMetrics, onQueued: @escaping @Sendable () -> Void = {}) {
        self.database = database
        self.settings = settings
        self.metrics = metrics
        self.onQueued = onQueued
    }

    /// Who may look at queues and items.
    static let readers: [Role] = [.reviewer, .auditor, .operator]

    static func reviewer(_ key: ApiKey) -> Reviewer {
        Reviewer(id: key.id, isAdmin: key.role == .admin, approvalLimits: key.approvalLimits)
    }

    /// Applies a command for `caller`; throws the ``Refusal`` of a control (forbidden), of the
    /// item's state (conflict), of the request (invalid), or for no such item.
    func perform(_ command: ReviewCommand, on id: String, by caller: ApiKey) async throws -> ReviewDone {
        let settings = settings
        let done = try await database.writer.write { db in
            try Reviews.perform(db, id: id, command: command, by: Self.reviewer(caller), now: Date(), settings: settings)
        }
        guard let done else { throw Self.notFound(id) }
        metrics.reviewed(done, action: command.action)
        if done.state == .approved { onQueued() }
        return done
    }

    /// The reviewer key an admin assigns an item to: a live reviewer or admin key.
    func assignee(_ id: String) async throws -> Reviewer {
        let key = try await SQLiteKeyStore(database: database).liveKey(id: id)
        guard let key, key.role == .reviewer || key.role == .admin else {
            throw Refusal.invalid("reviewer", "must be the id of a live reviewer or admin key")
        }
        return Self.reviewer(key)
    }

    func detail(_ id: String) async throws -> JSONValue {
        guard let item = try await database.writer.read({ db in try Reviews.detail(db, id: id, now: Date()) }) else {
            throw Self.notFound(id)
        }
        return item
    }

    /// Every key's id and name, for showing people by name.
    func keyNames() async throws -> [(id: String, name: String)] {
        try await database.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT id, name FROM api_keys").map { ($0["id"], $0["name"]) }
        }
    }

    func queues() async throws -> [QueueSummary] {
        let settings = settings
        return try await database.writer.read { db in try Reviews.queues(db, now: Date(), settings: settings) }
    }

    static func notFound(_ id: String) -> Refusal {
        .notFound("no review item with id '\(id)'")
    }

    /// The states `?state=` selects: one state, or `decided` for approved and rejected; by
    /// default the items still waiting.
    static func states(_ filter: String?) -> [ReviewState]? {
        switch filter {
        case nil: ReviewState.waiting
        case "decided": [.approved, .rejected]
        case let name?: ReviewState(rawValue: name).map { [$0] }
        }
    }

    func queueJSON(_ summary: QueueSummary, now: Date) -> JSONValue {
        let config = settings.queue(summary.name)
        return .object([
            "name": .string(summary.name), "open": .int(Int64(summary.waiting)),
            "by_state": .object(["open": .int(Int64(summary.open)), "claimed": .int(Int64(summary.claimed)),
                                 "escalated": .int(Int64(summary.escalated))]),
            "overdue": .int(Int64(summary.overdue)),
            "oldest_age_seconds": summary.oldestCreatedAt.map { .int(Int64(max(0, now.timeIntervalSince($0)))) } ?? .null,
            "sla_hours": config.slaSeconds.map { .double(Double($0) / 3600) } ?? .null,
            "escalate_to": config.escalateTo.map(JSONValue.string) ?? .null,
            "two_approvals_over_minor": config.twoApprovalsOverMinor.map(JSONValue.int) ?? .null,
        ])
    }
}

/// `/v1/queues`: the review queues and their items.
struct QueuesController {
    let desk: ReviewDesk

    var endpoints: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .get(use: list)
            .get(":name/items", use: items)
    }

    func list(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(ReviewDesk.readers)
        let now = Date()
        let queues = try await desk.queues()
        return JSONResponse(.object(["queues": .array(queues.map { desk.queueJSON($0, now: now) })]))
    }

    /// `?state=open|claimed|escalated|approved|rejected|decided&cursor=&limit=`, oldest first.
    func items(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(ReviewDesk.readers)
        let name = try context.parameters.require("name")
        let query = request.uri.queryParameters
        var errors: [FieldError] = []
        let states = ReviewDesk.states(query["state"].map(String.init))
        if states == nil {
            errors.append(FieldError("state", "must be one of open, claimed, escalated, approved, rejected, decided"))
        }
        let limit = RequestFields.limit(query["limit"], &errors)
        guard errors.isEmpty, let states else { throw Refusal.invalid(errors) }
        let after = query["cursor"].map(String.init)
        let page = try await desk.database.writer.read { [limit] db in
            try Reviews.items(db, queue: name, states: states, after: after, limit: limit, now: Date())
        }
        return JSONResponse(.object(["queue": .string(name), "items": .array(page.items),
                                     "next_cursor": page.next.map(JSONValue.string) ?? .null]))
    }
}

/// `/v1/reviews/{id}`: one item, and the reviewer commands on it.
struct ReviewsController {
    let desk: ReviewDesk

    var endpoints: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .get(":id", use: get)
            .post(":id/claim", use: claim)
            .post(":id/release", use: release)
            .post(":id/approve", use: approve)
            .post(":id/reject", use: reject)
            .post(":id/assign", use: assign)
    }

    func get(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(ReviewDesk.readers)
        return JSONResponse(try await desk.detail(try context.parameters.require("id")))
    }

    func claim(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        try await run(.claim, by: try context.require(.reviewer), context)
    }

    func release(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        try await run(.release, by: try context.require(.reviewer), context)
    }

    /// `{"comment"?, "amount_minor"?}`: a lower amount scales the money actions down.
    func approve(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.reviewer)
        let body = try await JSONBody.object(request, context: context, allowEmpty: true)
        var errors = RequestFields.unknown(body, allowed: ["comment", "amount_minor"])
        let comment = RequestFields.comment(body, &errors)
        var amount: Int64?
        switch body["amount_minor"] {
        case nil, .null?: break
        case .int(let v)?: amount = v
        case let other?: errors.append(FieldError("amount_minor", "must be an integer number of minor units, got \(other.typeName)"))
        }
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        return try await run(.approve(comment: comment, amountMinor: amount), by: caller, context)
    }

    /// `{"comment"}`: required.
    func reject(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.reviewer)
        let body = try await JSONBody.object(request, context: context, allowEmpty: true)
        var errors = RequestFields.unknown(body, allowed: ["comment"])
        let comment = RequestFields.comment(body, &errors)
        if comment == nil && errors.isEmpty { errors.append(FieldError("comment", "is required: say why the request is rejected")) }
        guard errors.isEmpty, let comment else { throw Refusal.invalid(errors) }
        return try await run(.reject(comment: comment), by: caller, context)
    }

    /// Admin: `{"reviewer": key id, "comment"?}` gives the claim to that reviewer.
    func assign(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.admin)
        let body = try await JSONBody.object(request, context: context)
        var errors = RequestFields.unknown(body, allowed: ["reviewer", "comment"])
        let comment = RequestFields.comment(body, &errors)
        let reviewer = body["reviewer"]?.stringValue
        if reviewer?.isEmpty ?? true { errors.append(FieldError("reviewer", "is required: the id of the reviewer key to assign")) }
        guard errors.isEmpty, let reviewer else { throw Refusal.invalid(errors) }
        let target = try await desk.assignee(reviewer)
        return try await run(.assign(to: target, comment: comment), by: caller, context)
    }

    /// Runs a command for the caller (role checked by the handler) and returns the item as it now is.
    func run(_ command: ReviewCommand, by caller: ApiKey, _ context: AppRequestContext) async throws -> JSONResponse {
        let id = try context.parameters.require("id")
        _ = try await desk.perform(command, on: id, by: caller)
        return JSONResponse(try await desk.detail(id))
    }
}
