import ArbiterApp
import ArbiterCore
import Foundation
import GRDB

/// Review items: the reviewer commands (with the controls of ``ReviewRules``), the escalation
/// sweep, and the views the API and the console read.
public enum Reviews {
    /// Applies `command` to the item in the caller's write transaction: checks the rules, updates
    /// the item, records the history row and the audit entry, and on the final approval queues
    /// the approved actions in the outbox. Nil when there is no such item; throws
    /// ``Refusal`` when a rule forbids the command (nothing is written then).
    public static func perform(_ db: Database, id: String, command: ReviewCommand, by reviewer: Reviewer, now: Date,
                               settings: ReviewSettings, routing: ActionRouting = .single) throws -> ReviewDone? {
        guard let loaded = try load(db, id: id) else { return nil }
        let item = loaded.item
        let change = try ReviewRules.apply(command, to: item, by: reviewer, now: now, settings: settings)
        let at = Timestamp.format(now)
        let step = ReviewStep(command, on: item, transition: change)
        let final = step.final
        try db.execute(sql: """
            UPDATE review_items SET state = ?, claimed_by = ?, claimed_at = ?, claim_expires_at = ?, approvals_given = ?,
                                    updated_at = ?, decided_at = ?, decided_by = ?, approved_amount_minor = ?
            WHERE id = ?
            """, arguments: [
                change.state.rawValue, change.claimedBy, change.claimedBy == nil ? nil : at,
                change.claimExpiresAt.map(Timestamp.format), step.approvalsGiven, at,
                final ? at : nil, final ? reviewer.id : nil, change.approvedAmountMinor, id,
            ])
        try db.execute(sql: """
            INSERT INTO review_history (review_id, at, actor, action, comment, amount_minor, assignee) VALUES (?, ?, ?, ?, ?, ?, ?)
            """, arguments: [id, at, reviewer.id, command.action, step.comment, change.approval?.amountMinor, step.assignee])
        var chain = try AuditChain(db)
        for action in change.approvedActions ?? [] {
            try Outbox.insert(db, action: action,
                              payload: DecisionRecord.outboxPayload(action, accountId: loaded.accountId, correlationId: loaded.correlationId,
                                                                    decisionId: loaded.decisionId),
                              decisionId: loaded.decisionId, reviewId: id, accountId: loaded.accountId,
                              correlationId: loaded.correlationId, at: at,
                              target: routing.target(forType: action["type"]?.stringValue ?? ""))
        }
        // The requester hears the outcome where the decision was answered.
        if final, let decided = try String.fetchOne(db, sql: """
            SELECT payload FROM outbox_actions WHERE decision_id = ? AND target = ? AND review_id IS NULL ORDER BY rowid LIMIT 1
            """, arguments: [loaded.decisionId, OutboxTarget.answers]),
           let answer = RequesterAnswer.review(answering: Decisions.json(decided), reviewId: id, state: change.state,
                                               approvedAmountMinor: change.approvedAmountMinor, by: reviewer.id, comment: step.comment, at: now) {
            try Outbox.insert(db, action: answer.action, payload: answer.payload, decisionId: loaded.decisionId, reviewId: id,
                              accountId: loaded.accountId, correlationId: loaded.correlationId, at: at, target: OutboxTarget.answers)
        }
        try chain.append(db, actor: reviewer.id, kind: "review.\(command.action)", subject: id,
                         correlationId: loaded.correlationId, data: step.auditData(item: item, transition: change), at: now)
        return ReviewDone(reviewId: id, queue: item.queue, state: change.state,
                          secondsToDecision: final ? now.timeIntervalSince(loaded.createdAt) : nil)
    }

    /// The item as the rules see it, with what else a command writes.
    static func load(_ db: Database, id: String) throws
        -> (item: ReviewItem, accountId: String, correlationId: String, decisionId: String, createdAt: Date)? {
        guard let row = try Row.fetchOne(db, sql: """
            SELECT r.*, d.actions, e.correlation_id FROM review_items r
            JOIN decisions d ON d.id = r.decision_id JOIN events e ON e.id = r.event_id
            WHERE r.id = ?
            """, arguments: [id]) else { return nil }
        let approvals = try Row.fetchAll(db, sql: """
            SELECT actor, amount_minor FROM review_history WHERE review_id = ? AND action = 'approved' ORDER BY id
            """, arguments: [id]).map { ReviewApproval(reviewer: $0["actor"], amountMinor: $0["amount_minor"]) }
        let item = ReviewItem(
            id: id, queue: row["queue"], state: ReviewState(rawValue: row["state"]) ?? .open, submittedBy: row["submitted_by"],
            approvalsRequired: row["approvals_required"], approvals: approvals, claimedBy: row["claimed_by"],
            claimExpiresAt: (row["claim_expires_at"] as String?).flatMap(Timestamp.parse),
            escalatedAt: (row["escalated_at"] as String?).flatMap(Timestamp.parse),
            proposedActions: Decisions.json(row["actions"]).arrayValue ?? [])
        let createdAt = Timestamp.parse(row["created_at"]) ?? Date()
        return (item, row["account_id"], row["correlation_id"], row["decision_id"], createdAt)
    }

    // MARK: Escalation

    /// Releases expired claims and escalates overdue items (past their SLA) to their queue's
    /// escalation target, each with a history row and an audit entry by `system`. At most
    /// `limit` items of each kind per call.
    public static func sweep(_ db: Database, now: Date, settings: ReviewSettings, limit: Int = 500) throws -> SweepResult {
        var result = SweepResult()
        let at = Timestamp.format(now)
        var chain = try AuditChain(db)
        let expired = try Row.fetchAll(db, sql: """
            SELECT r.id, r.queue, r.claimed_by, r.escalated_at, e.correlation_id FROM review_items r JOIN events e ON e.id = r.event_id
            WHERE r.state = 'claimed' AND r.claim_expires_at <= ? ORDER BY r.claim_expires_at LIMIT ?
            """, arguments: [at, limit])
        for row in expired {
            let id: String = row["id"]
            let state: ReviewState = (row["escalated_at"] as String?) == nil ? .open : .escalated
            try db.execute(sql: """
                UPDATE review_items SET state = ?, claimed_by = NULL, claimed_at = NULL, claim_expires_at = NULL, updated_at = ?
                WHERE id = ?
                """, arguments: [state.rawValue, at, id])
            try db.execute(sql: "INSERT INTO review_history (review_id, at, actor, action, comment) VALUES (?, ?, 'system', 'claim_expired', ?)",
                           arguments: [id, at, "claim by \(row["claimed_by"] as String? ?? "?") expired"])
            try chain.append(db, actor: "system", kind: "review.claim_expired", subject: id, correlationId: row["correlation_id"],
                             data: ["queue": .string(row["queue"]), "claimed_by": .string(row["claimed_by"] ?? "")], at: now)
            result.expiredClaims += 1
        }
        let overdue = try Row.fetchAll(db, sql: """
            SELECT r.id, r.queue, r.state, r.sla_due_at, e.correlation_id FROM review_items r JOIN events e ON e.id = r.event_id
            WHERE r.state IN ('open', 'claimed') AND r.escalated_at IS NULL AND r.sla_due_at <= ? ORDER BY r.sla_due_at LIMIT ?
            """, arguments: [at, limit])
        for row in overdue {
            let id: String = row["id"]
            let queue: String = row["queue"]
            let target = settings.queue(queue).escalateTo ?? queue
            // A claimed item stays with its claimer (who may be finishing it), in the new queue.
            let state = row["state"] == ReviewState.claimed.rawValue ? ReviewState.claimed : .escalated
            try db.execute(sql: """
                UPDATE review_items SET state = ?, queue = ?, escalated_at = ?, escalated_from = ?, updated_at = ? WHERE id = ?
                """, arguments: [state.rawValue, target, at, queue, at, id])
            try db.execute(sql: "INSERT INTO review_history (review_id, at, actor, action, comment) VALUES (?, ?, 'system', 'escalated', ?)",
                           arguments: [id, at, target == queue ? "past its SLA (\(row["sla_due_at"] as String))" : "past its SLA (\(row["sla_due_at"] as String)): moved from \(queue) to \(target)"])
            try chain.append(db, actor: "system", kind: "review.escalated", subject: id, correlationId: row["correlation_id"],
                             data: ["from": .string(queue), "to": .string(target), "sla_due_at": .string(row["sla_due_at"])], at: now)
            result.escalated[queue, default: 0] += 1
        }
        return result
    }

    // MARK: Reading

    /// Every queue with waiting items, and every configured queue (with zero counts).
    public static func queues(_ db: Database, now: Date, settings: ReviewSettings) throws -> [QueueSummary] {
        var summaries: [String: QueueSummary] = [:]
        for name in settings.queues.keys { summaries[name] = QueueSummary(name: name) }
        for name in settings.queues.values.compactMap(\.escalateTo) { summaries[name] = QueueSummary(name: name) }
        let rows = try Row.fetchAll(db, sql: """
            SELECT queue, state, COUNT(*) AS n, MIN(created_at) AS oldest, SUM(sla_due_at IS NOT NULL AND sla_due_at < ?) AS overdue
            FROM review_items WHERE state IN ('open', 'claimed', 'escalated') GROUP BY queue, state
            """, arguments: [Timestamp.format(now)])
        for row in rows {
            let name: String = row["queue"]
            var summary = summaries[name] ?? QueueSummary(name: name)
            let count: Int = row["n"]
            switch ReviewState(rawValue: row["state"]) {
            case .open?: summary.open += count
            case .claimed?: summary.claimed += count
            case .escalated?: summary.escalated += count
            default: break
            }
            summary.overdue += row["overdue"] as Int? ?? 0
            if let oldest = (row["oldest"] as String?).flatMap(Timestamp.parse) {
                summary.oldestCreatedAt = min(summary.oldestCreatedAt ?? oldest, oldest)
            }
            summaries[name] = summary
        }
        return summaries.values.sorted { $0.name < $1.name }
    }

    /// One page of a queue's items in `states`, oldest first (ids are time-ordered).
    public static func items(_ db: Database, queue: String, states: [ReviewState], after: String?, limit: Int, now: Date) throws
        -> Page<ReviewItemSummary> {
        var arguments: StatementArguments = [queue]
        arguments += StatementArguments(states.map(\.rawValue))
        var sql = """
            SELECT r.*, e.type AS event_type, e.amount_minor, e.currency, d.reasons, ck.name AS claimed_by_name
            FROM review_items r JOIN events e ON e.id = r.event_id JOIN decisions d ON d.id = r.decision_id
            LEFT JOIN api_keys ck ON ck.id = r.claimed_by
            WHERE r.queue = ? AND r.state IN (\(states.map { _ in "?" }.joined(separator: ", ")))
            """
        if let after {
            sql += " AND r.id > ?"
            arguments += [after]
        }
        sql += " ORDER BY r.id LIMIT ?"
        arguments += [limit + 1]
        let rows = try Row.fetchAll(db, sql: sql, arguments: arguments)
        let page = rows.prefix(limit)
        let next: String? = rows.count > limit ? page.last?["id"] : nil
        return Page(items: page.map { summary($0, now: now) }, next: next)
    }

    static func summary(_ row: Row, now: Date) -> ReviewItemSummary {
        let state = ReviewState(rawValue: row["state"]) ?? .open
        let claimExpires: String? = row["claim_expires_at"]
        let nowText = Timestamp.format(now)
        var claim: ReviewItemSummary.Claim?
        if state == .claimed, let claimExpires, claimExpires > nowText, let by: String = row["claimed_by"] {
            claim = .init(by: by, byName: row["claimed_by_name"], expiresAt: claimExpires)
        }
        let due: String? = row["sla_due_at"]
        let reasons = Decisions.json(row["reasons"]).arrayValue?.compactMap(\.stringValue) ?? []
        return ReviewItemSummary(
            id: row["id"], queue: row["queue"], state: state, accountId: row["account_id"], eventId: row["event_id"],
            decisionId: row["decision_id"], eventType: row["event_type"], createdAt: row["created_at"], submittedBy: row["submitted_by"],
            slaDueAt: due, escalatedAt: row["escalated_at"], escalatedFrom: row["escalated_from"], decidedAt: row["decided_at"],
            decidedBy: row["decided_by"], amountMinor: row["amount_minor"], currency: row["currency"], claim: claim,
            approvalsRequired: row["approvals_required"], approvalsGiven: row["approvals_given"],
            approvedAmountMinor: row["approved_amount_minor"], reasons: reasons,
            overdue: !state.isDecided && due.map { $0 < nowText } ?? false)
    }

    /// Everything a reviewer needs to decide: the event, the context as evaluated, every policy's
    /// verdict, the proposed (and, once approved, the queued) actions and the item's history.
    public static func detail(_ db: Database, id: String, now: Date) throws -> ReviewItemDetail? {
        guard let row = try Row.fetchOne(db, sql: """
            SELECT r.*, e.type AS event_type, e.amount_minor, e.currency, e.correlation_id, d.reasons, d.actions, d.policies,
                   d.context, ck.name AS claimed_by_name, sk.name AS submitted_by_name
            FROM review_items r JOIN events e ON e.id = r.event_id JOIN decisions d ON d.id = r.decision_id
            LEFT JOIN api_keys ck ON ck.id = r.claimed_by LEFT JOIN api_keys sk ON sk.id = r.submitted_by
            WHERE r.id = ?
            """, arguments: [id]) else { return nil }
        let summary = summary(row, now: now)
        let proposed = Decisions.json(row["actions"]).arrayValue ?? []
        let item = ReviewItem(id: id, queue: "", state: .open, submittedBy: "", approvalsRequired: 1, approvals: [], claimedBy: nil,
                              claimExpiresAt: nil, escalatedAt: nil, proposedActions: proposed)
        let queued = try Row.fetchAll(db, sql: """
            SELECT id, type, amount_minor, currency, status, erp_reference FROM outbox_actions WHERE review_id = ? AND target = 'erp' ORDER BY id
            """, arguments: [id]).map { action in
                QueuedAction(id: action["id"], type: action["type"], amountMinor: action["amount_minor"], currency: action["currency"],
                             status: action["status"], erpReference: action["erp_reference"])
            }
        let history = try Row.fetchAll(db, sql: """
            SELECT h.*, k.name AS actor_name FROM review_history h LEFT JOIN api_keys k ON k.id = h.actor
            WHERE h.review_id = ? ORDER BY h.id
            """, arguments: [id]).map { h in
                ReviewItemDetail.Step(at: h["at"], actor: h["actor"], actorName: h["actor_name"], action: h["action"],
                                      comment: h["comment"], amountMinor: h["amount_minor"], assignee: h["assignee"])
            }
        return ReviewItemDetail(
            summary: summary, correlationId: row["correlation_id"], submittedByName: row["submitted_by_name"],
            event: try Decisions.storedEvent(db, id: summary.eventId),
            context: try? PolicyContext(json: Decisions.json(row["context"]), accountId: summary.accountId, defaultNow: 0),
            verdicts: Decisions.verdicts(row["policies"]),
            proposedActions: proposed.map { RecordedAction(fields: $0.objectValue ?? [:]) },
            proposedAmountMinor: item.proposedMoneyMinor, queuedActions: queued, history: history)
    }
}
