import ArbiterApp
import ArbiterCore
import Foundation
import Hummingbird

/// The operations dashboard (`/console/operations`, role `operator`): decisions per hour by
/// outcome over the last day, review queues with ages and overdue counts, ERP actions by target
/// and status, dead letters (retry, cancel), inbound dead letters (replay) and open
/// reconciliation exceptions (resend, cancel, accept) — each command the API's own use case.
extension Console {
    static let outcomeSeries = [ConsoleChart.Series(name: "approve", color: "#2e7d4f"), ConsoleChart.Series(name: "review", color: "#d19a1a"),
                                ConsoleChart.Series(name: "reject", color: "#b3261e"), ConsoleChart.Series(name: "recorded", color: "#7a8793")]

    func addOperationsRoutes(to console: RouterGroup<AppRequestContext>) {
        console.get("operations", use: operationsPage)
        console.post("operations/actions/:id/:command", use: actionCommand)
        console.post("operations/inbound/:id/replay", use: replayCommand)
        console.post("operations/exceptions/:id/resolve", use: exceptionCommand)
    }

    func operationsPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        if let refused = forbidden(user, "The operations dashboard", [.operator]) { return refused }
        let notice = request.uri.queryParameters["done"].map(String.init)
        return try await operations(user: user, notice: notice.flatMap { Self.operationNotices[$0] }, error: nil, status: .ok)
    }

    static let operationNotices = [
        "retried": "The dead letter is back in line and will be sent now.",
        "cancelled": "The action is cancelled: it will never be sent.",
        "replayed": "The webhook was processed again.",
        "resolved": "The exception is resolved.",
    ]

    func operations(user: ConsoleUser, notice: String?, error: String?, status: HTTPResponse.Status) async throws -> Response {
        let now = Date()
        // Decisions per hour over the last 24 hours, every hour shown (an empty one as 0).
        let hourStart = Date(timeIntervalSince1970: (now.timeIntervalSince1970 / 3600).rounded(.down) * 3600)
        let first = hourStart.addingTimeInterval(-23 * 3600)
        let counted = Dictionary(uniqueKeysWithValues: try await decisions.outcomesByHour(since: Timestamp.format(first)).map { ($0.hour, $0.counts) })
        let hours = (0..<24).map { first.addingTimeInterval(Double($0) * 3600) }
        let columns = hours.map { hour -> (label: String, values: [String: Int]) in
            let key = String(Timestamp.format(hour).prefix(13))
            return (String(key.suffix(2)) + ":00", counted[key] ?? [:])
        }
        let chart = ConsoleChart.stackedBars(id: "decisions-chart", title: "Decisions per hour by outcome, last 24 hours (UTC)",
                                             columns: columns, series: Self.outcomeSeries)
        var totals: [String: Int] = [:]
        for column in columns { for (outcome, count) in column.values { totals[outcome, default: 0] += count } }
        let outcomeTotals = Self.outcomeSeries.map { ["outcome": $0.name, "count": totals[$0.name] ?? 0] as [String: Any] }

        // The queue and outbox counts the service takes in the background (as /metrics and
        // /readyz read them): a page view costs no count over the whole outbox. Counted now only
        // before the first background count.
        let background = gauges.counts
        let queueSummaries: [QueueSummary]
        if let background { queueSummaries = background.queues } else { queueSummaries = try await desk.queues() }
        let queues = queueSummaries.map { q -> [String: Any] in
            ["name": q.name, "path": Self.pathComponent(q.name), "waiting": q.waiting, "overdue": q.overdue, "isOverdue": q.overdue > 0,
             "escalated": q.escalated, "oldest": q.oldestCreatedAt.map { ConsoleFormat.age(now.timeIntervalSince($0)) } ?? "—"]
        }
        let depth: OutboxDepth
        if let background { depth = background.outbox } else { depth = try await deliveries.depth() }
        let targets = deliveries.targets.map { name -> [String: Any] in
            let target = depth.byTarget[name] ?? OutboxDepth.Target()
            return ["name": name, "pending": target.byStatus["pending"] ?? 0, "delivered": target.byStatus["delivered"] ?? 0,
                    "dead": target.byStatus["dead"] ?? 0, "cancelled": target.byStatus["cancelled"] ?? 0,
                    "hasDead": (target.byStatus["dead"] ?? 0) > 0,
                    "oldest": target.oldestPending.map { ConsoleFormat.age(now.timeIntervalSince($0)) } ?? "—"]
        }
        let dead = try await deliveries.actions(status: "dead", accountId: nil, after: nil, limit: 50).items.map { action -> [String: Any] in
            ConsoleFormat.present([
                "id": action.id, "path": Self.pathComponent(action.id), "target": action.target, "title": ConsoleFormat.actionTitle(action.type),
                "account": action.accountId, "amount": ConsoleFormat.money(action.amountMinor, action.currency) ?? "—",
                "attempts": action.attempts, "error": action.lastError ?? "—", "since": ConsoleFormat.time(action.updatedAt ?? action.createdAt),
            ])
        }
        var inbound: [[String: Any]] = []
        for status in [InboundMessage.Status.failed, .unmatched] {
            for message in try await inbox.messages(InboundFilter(status: status, limit: 25)).items {
                inbound.append(ConsoleFormat.present([
                    "id": message.id, "path": Self.pathComponent(message.id), "source": message.source, "type": message.vendorType ?? "—",
                    "status": message.outcome.status.rawValue, "detail": message.outcome.detail ?? "—",
                    "received": ConsoleFormat.time(message.receivedAt),
                ]))
            }
        }
        let exceptions = try await reconciliations.exceptions(state: "open", mapping: nil, run: nil, after: nil, limit: 50).items
            .map { exception -> [String: Any] in
                ConsoleFormat.present([
                    "id": exception.id, "path": Self.pathComponent(exception.id), "class": exception.class.replacingOccurrences(of: "_", with: " "),
                    "reason": exception.reason, "mapping": exception.mapping, "subject": exception.subject,
                    "amount": ConsoleFormat.money(exception.amountMinor, exception.currency) ?? "—", "owner": exception.owner ?? "nobody",
                    "hasAction": exception.actionId != nil,
                ])
            }
        let view = ConsoleFormat.present([
            "csrf": user.csrf, "notice": notice, "error": error, "chart": chart, "outcomeTotals": outcomeTotals,
            "queues": queues, "noQueues": queues.isEmpty, "targets": targets,
            "dead": dead, "noDead": dead.isEmpty, "inbound": inbound, "noInbound": inbound.isEmpty,
            "exceptions": exceptions, "noExceptions": exceptions.isEmpty,
            "countedAt": ConsoleFormat.time(Timestamp.format(background?.countedAt ?? now)),
        ])
        return html(title: "Operations", template: "operations", view, user: user, status: status, path: "/console/operations")
    }

    struct CommentForm: Decodable {
        let csrf: String?
        let comment: String?
        let resolution: String?
    }

    /// Runs an operator's command from the dashboard: a refusal is shown on the page in the
    /// service's words, a success redirects back with a notice.
    func operatorCommand(_ request: Request, run: (ConsoleUser, CommentForm) async throws -> String) async throws -> Response {
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        let form = try await Self.form(CommentForm.self, request)
        if let refused = formRefusal(user, csrf: form.csrf, roles: [.operator], doing: "act on deliveries") {
            return try await operations(user: user, notice: nil, error: refused, status: .forbidden)
        }
        do {
            return Self.redirect("/console/operations?done=\(try await run(user, form))")
        } catch let refusal as Refusal {
            return try await operations(user: user, notice: nil, error: ConsoleFormat.plainWords(refusal), status: Problem(refusal).status)
        }
    }

    func actionCommand(_ request: Request, context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id"), command = try context.parameters.require("command")
        return try await operatorCommand(request) { user, form in
            let comment = form.comment?.trimmingCharacters(in: .whitespacesAndNewlines).nilIfEmpty
            switch command {
            case "retry":
                try await deliveries.retry(id, by: user.key.id, comment: comment)
                return "retried"
            case "cancel":
                guard let comment else { throw Refusal.invalid("comment", "say why this action must never reach its target") }
                try await deliveries.cancel(id, by: user.key.id, comment: comment)
                return "cancelled"
            default:
                throw Refusal.notFound("there is no such command")
            }
        }
    }

    func replayCommand(_ request: Request, context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        return try await operatorCommand(request) { user, _ in
            _ = try await inbox.replay(id: id, by: user.key.id)
            return "replayed"
        }
    }

    func exceptionCommand(_ request: Request, context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        return try await operatorCommand(request) { user, form in
            guard let resolution = form.resolution.flatMap(ReconciliationException.Resolution.init(rawValue:)), resolution != .matched else {
                throw Refusal.invalid("resolution", "choose resend, cancel or accept")
            }
            let comment = form.comment?.trimmingCharacters(in: .whitespacesAndNewlines).nilIfEmpty
            _ = try await reconciliations.resolve(id: id, resolution, by: user.key.id, comment: comment)
            return "resolved"
        }
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
