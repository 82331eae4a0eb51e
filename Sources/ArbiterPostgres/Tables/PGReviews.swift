import ArbiterApp
import ArbiterCore
import Foundation
import PostgresNIO

/// Review items (the embedded store's `Reviews`): the reviewer commands under the controls of
/// ``ReviewRules``, the escalation sweep, and the views. A command locks the item's account,
/// then the item: two reviewers acting at once — through one instance or two — take turns,
/// and the second is judged against what the first did.
enum PGReviews {
    static func perform(_ unit: WorkUnit, id: String, command: ReviewCommand, by reviewer: Reviewer, now: Date,
                        settings: ReviewSettings, routing: ActionRouting) async throws -> ReviewDone? {
        guard let account = try await unit.value("SELECT account_id FROM review_items WHERE id = \(id)", as: String.self) else {
            return nil
        }
        // The account first: a final approval queues money that the account's next decision counts.
        try await unit.lockAccounts([account])
        guard let loaded = try await load(unit, id: id) else { return nil }
        let item = loaded.item
        let change = try ReviewRules.apply(command, to: item, by: reviewer, now: now, settings: settings)
        let at = Timestamp.format(now)
        let step = ReviewStep(command, on: item, transition: change)
        let final = step.final
        try await unit.run("""
            UPDATE review_items SET state = \(change.state.rawValue), claimed_by = \(change.claimedBy),
                claimed_at = \(change.claimedBy == nil ? nil : at), claim_expires_at = \(change.claimExpiresAt.map(Timestamp.format)),
                approvals_given = \(step.approvalsGiven), updated_at = \(at), decided_at = \(final ? at : nil),
                decided_by = \(final ? reviewer.id : nil), approved_amount_minor = \(change.approvedAmountMinor)
            WHERE id = \(id)
            """)
        try await unit.run("""
            INSERT INTO review_history (review_id, at, actor, action, comment, amount_minor, assignee)
            VALUES (\(id), \(at), \(reviewer.id), \(command.action), \(step.comment), \(change.approval?.amountMinor), \(step.assignee))
            """)
        for action in change.approvedActions ?? [] {
            try await PGOutbox.insert(unit, action: action,
                                      payload: DecisionRecord.outboxPayload(action, accountId: loaded.accountId,
                                                                            correlationId: loaded.correlationId, decisionId: loaded.decisionId),
                                      decisionId: loaded.decisionId, reviewId: id, accountId: loaded.accountId,
                                      correlationId: loaded.correlationId, at: at,
                                      target: routing.target(forType: action["type"]?.stringValue ?? ""))
        }
        // The requester hears the outcome where the decision was answered.
        if final, let decided = try await unit.value("""
            SELECT payload FROM outbox_actions WHERE decision_id = \(loaded.decisionId) AND target = \(OutboxTarget.answers)
                AND review_id IS NULL ORDER BY seq LIMIT 1
            """, as: String.self),
           let answer = RequesterAnswer.review(answering: StoredJSON.value(decided), reviewId: id, state: change.state,
                                               approvedAmountMinor: change.approvedAmountMinor, by: reviewer.id, comment: step.comment, at: now) {
            try await PGOutbox.insert(unit, action: answer.action, payload: answer.payload, decisionId: loaded.decisionId, reviewId: id,
                                      accountId: loaded.accountId, correlationId: loaded.correlationId, at: at, target: OutboxTarget.answers)
        }
        unit.audit(actor: reviewer.id, kind: "review.\(command.action)", subject: id, correlationId: loaded.correlationId,
                   data: step.auditData(item: item, transition: change), at: now)
        return ReviewDone(reviewId: id, queue: item.queue, state: change.state,
                          secondsToDecision: final ? now.timeIntervalSince(loaded.createdAt) : nil)
    }

    /// The item as the rules see it, locked for the rest of the unit.
    static func load(_ unit: WorkUnit, id: String) async throws
        -> (item: ReviewItem, accountId: String, correlationId: String, decisionId: String, createdAt: Date)? {
        guard let row = try await unit.row("""
            SELECT r.*, d.actions, e.correlation_id FROM review_items r
            JOIN decisions d ON d.id = r.decision_id JOIN events e ON e.id = r.event_id
            WHERE r.id = \(id) FOR UPDATE OF r
            """) else { return nil }
        let approvals = try await unit.rows("""
            SELECT actor, amount_minor FROM review_history WHERE review_id = \(id) AND action = 'approved' ORDER BY id
            """).map { ReviewApproval(reviewer: try $0["actor"], amountMinor: try $0["amount_minor"]) }
        let item = ReviewItem(
            id: id, queue: try row["queue"], state: ReviewState(rawValue: try row["state"]) ?? .open, submittedBy: try row["submitted_by"],
            approvalsRequired: Int(try row["approvals_required"] as Int64), approvals: approvals, claimedBy: try row["claimed_by"],
            claimExpiresAt: (try row["claim_expires_at"] as String?).flatMap(Timestamp.parse),
            escalatedAt: (try row["escalated_at"] as String?).flatMap(Timestamp.parse),
            proposedActions: StoredJSON.value(try row["actions"]).arrayValue ?? [])
        let createdAt = Timestamp.parse(try row["created_at"]) ?? Date()
        return (item, try row["account_id"], try row["correlation_id"], try row["decision_id"], createdAt)
    }

    // MARK: Escalation

    /// Releases expired claims and escalates overdue items, each once however many instances
    /// sweep: the rows are locked as they are read (`FOR UPDATE SKIP LOCKED`: a row another
    /// sweep holds is left to it, and its condition is checked again once free).
    static func sweep(_ unit: WorkUnit, now: Date, settings: ReviewSettings, limit: Int) async throws -> SweepResult {
        var result = SweepResult()
        let at = Timestamp.format(now)
        let expired = try await unit.rows("""
            SELECT r.id, r.queue, r.claimed_by, r.escalated_at, e.correlation_id FROM review_items r JOIN events e ON e.id = r.event_id
            WHERE r.state = 'claimed' AND r.claim_expires_at <= \(at) ORDER BY r.claim_expires_at LIMIT \(Int64(limit))
            FOR UPDATE OF r SKIP LOCKED
            """)
        for row in expired {
            let id: String = try row["id"]
            let claimedBy: String? = try row["claimed_by"]
            let state: ReviewState = (try row["escalated_at"] as String?) == nil ? .open : .escalated
            try await unit.run("""
                UPDATE review_items SET state = \(state.rawValue), claimed_by = NULL, claimed_at = NULL, claim_expires_at = NULL,
                    updated_at = \(at)
                WHERE id = \(id)
                """)
            try await unit.run("""
                INSERT INTO review_history (review_id, at, actor, action, comment)
                VALUES (\(id), \(at), 'system', 'claim_expired', \("claim by \(claimedBy ?? "?") expired"))
                """)
            unit.audit(actor: "system", kind: "review.claim_expired", subject: id, correlationId: try row["correlation_id"],
                       data: ["queue": .string(try row["queue"]), "claimed_by": .string(claimedBy ?? "")], at: now)
            result.expiredClaims += 1
        }
        let overdue = try await unit.rows("""
            SELECT r.id, r.queue, r.state, r.sla_due_at, e.correlation_id FROM review_items r JOIN events e ON e.id = r.event_id
            WHERE r.state IN ('open', 'claimed') AND r.escalated_at IS NULL AND r.sla_due_at <= \(at)
            ORDER BY r.sla_due_at LIMIT \(Int64(limit))
            FOR UPDATE OF r SKIP LOCKED
            """)
        for row in overdue {
            let id: String = try row["id"]
            let queue: String = try row["queue"]
            let due: String = try row["sla_due_at"]
            let target = settings.queue(queue).escalateTo ?? queue
            // A claimed item stays with its claimer (who may be finishing it), in the new queue.
            let state = try row["state"] as String == ReviewState.claimed.rawValue ? ReviewState.claimed : .escalated
            try await unit.run("""
                UPDATE review_items SET state = \(state.rawValue), queue = \(target), escalated_at = \(at), escalated_from = \(queue),
                    updated_at = \(at)
                WHERE id = \(id)
                """)
            let comment = target == queue ? "past its SLA (\(due))" : "past its SLA (\(due)): moved from \(queue) to \(target)"
            try await unit.run("""
                INSERT INTO review_history (review_id, at, actor, action, comment) VALUES (\(id), \(at), 'system', 'escalated', \(comment))
                """)
            unit.audit(actor: "system", kind: "review.escalated", subject: id, correlationId: try row["correlation_id"],
                       data: ["from": .string(queue), "to": .string(target), "sla_due_at": .string(due)], at: now)
            result.escalated[queue, default: 0] += 1
        }
        return result
    }

    // MARK: Reading

    static func queues(_ unit: WorkUnit, now: Date, settings: ReviewSettings) async throws -> [QueueSummary] {
        var summaries: [String: QueueSummary] = [:]
        for name in settings.queues.keys { summaries[name] = QueueSummary(name: name) }
        for name in settings.queues.values.compactMap(\.escalateTo) { summaries[name] = QueueSummary(name: name) }
        let rows = try await unit.rows("""
            SELECT queue, state, COUNT(*) AS n, MIN(created_at) AS oldest,
                   COUNT(*) FILTER (WHERE sla_due_at IS NOT NULL AND sla_due_at < \(Timestamp.format(now))) AS overdue
            FROM review_items WHERE state IN ('open', 'claimed', 'escalated') GROUP BY queue, state
            """)
        for row in rows {
            let name: String = try row["queue"]
            var summary = summaries[name] ?? QueueSummary(name: name)
            let count = Int(try row["n"] as Int64)
            switch ReviewState(rawValue: try row["state"]) {
            case .open?: summary.open += count
            case .claimed?: summary.claimed += count
            case .escalated?: summary.escalated += count
            default: break
            }
            summary.overdue += Int(try row["overdue"] as Int64)
            if let oldest = (try row["oldest"] as String?).flatMap(Timestamp.parse) {
                summary.oldestCreatedAt = min(summary.oldestCreatedAt ?? oldest, oldest)
            }
            summaries[name] = summary
        }
        return summaries.values.sorted { $0.name < $1.name }
    }

    static func items(_ unit: WorkUnit, queue: String, states: [ReviewState], after: String?, limit: Int, now: Date) async throws
        -> Page<ReviewItemSummary> {
        var sql = SQL("""
            SELECT r.*, e.type AS event_type, e.amount_minor, e.currency, d.reasons, ck.name AS claimed_by_name
            FROM review_items r JOIN events e ON e.id = r.event_id JOIN decisions d ON d.id = r.decision_id
            LEFT JOIN api_keys ck ON ck.id = r.claimed_by
            """)
        sql.append(" WHERE r.queue = \(sql.bind(queue)) AND r.state = ANY(\(sql.bind(states.map(\.rawValue)))::text[])")
        if let after { sql.append(" AND r.id > \(sql.bind(after))") }
        sql.append(" ORDER BY r.id LIMIT \(sql.bind(Int64(limit + 1)))")
        let rows = try await unit.rows(sql.query)
        let page = try rows.prefix(limit).map { try summary($0, now: now) }
        return Page(items: page, next: rows.count > limit ? page.last?.id : nil)
    }

    static func summary(_ row: Row, now: Date) throws -> ReviewItemSummary {
        let state = ReviewState(rawValue: try row["state"]) ?? .open
        let claimExpires: String? = try row["claim_expires_at"]
        let nowText = Timestamp.format(now)
        var claim: ReviewItemSummary.Claim?
        if state == .claimed, let claimExpires, claimExpires > nowText, let by: String = try row["claimed_by"] {
            claim = .init(by: by, byName: try row["claimed_by_name"], expiresAt: claimExpires)
        }
        let due: String? = try row["sla_due_at"]
        return ReviewItemSummary(
            id: try row["id"], queue: try row["queue"], state: state, accountId: try row["account_id"], eventId: try row["event_id"],
            decisionId: try row["decision_id"], eventType: try row["event_type"], createdAt: try row["created_at"],
            submittedBy: try row["submitted_by"], slaDueAt: due, escalatedAt: try row["escalated_at"],
            escalatedFrom: try row["escalated_from"], decidedAt: try row["decided_at"], decidedBy: try row["decided_by"],
            amountMinor: try row["amount_minor"], currency: try row["currency"], claim: claim,
            approvalsRequired: Int(try row["approvals_required"] as Int64), approvalsGiven: Int(try row["approvals_given"] as Int64),
            approvedAmountMinor: try row["approved_amount_minor"], reasons: StoredJSON.strings(try row["reasons"]),
            overdue: !state.isDecided && due.map { $0 < nowText } ?? false)
    }

    static func detail(_ unit: WorkUnit, id: String, now: Date) async throws -> ReviewItemDetail? {
        guard let row = try await unit.row("""
            SELECT r.*, e.type AS event_type, e.amount_minor, e.currency, e.correlation_id, d.reasons, d.actions, d.policies,
                   d.context, ck.name AS claimed_by_name, sk.name AS submitted_by_name
            FROM review_items r JOIN events e ON e.id = r.event_id JOIN decisions d ON d.id = r.decision_id
            LEFT JOIN api_keys ck ON ck.id = r.claimed_by LEFT JOIN api_keys sk ON sk.id = r.submitted_by
            WHERE r.id = \(id)
            """) else { return nil }
        let summary = try summary(row, now: now)
        let proposed = StoredJSON.value(try row["actions"]).arrayValue ?? []
        let item = ReviewItem(id: id, queue: "", state: .open, submittedBy: "", approvalsRequired: 1, approvals: [], claimedBy: nil,
                              claimExpiresAt: nil, escalatedAt: nil, proposedActions: proposed)
        let queued = try await unit.rows("""
            SELECT id, type, amount_minor, currency, status, erp_reference FROM outbox_actions WHERE review_id = \(id) AND target = 'erp' ORDER BY seq
            """).map { action in
                QueuedAction(id: try action["id"], type: try action["type"], amountMinor: try action["amount_minor"],
                             currency: try action["currency"], status: try action["status"], erpReference: try action["erp_reference"])
            }
        let history = try await unit.rows("""
            SELECT h.*, k.name AS actor_name FROM review_history h LEFT JOIN api_keys k ON k.id = h.actor
            WHERE h.review_id = \(id) ORDER BY h.id
            """).map { h in
                ReviewItemDetail.Step(at: try h["at"], actor: try h["actor"], actorName: try h["actor_name"], action: try h["action"],
                                      comment: try h["comment"], amountMinor: try h["amount_minor"], assignee: try h["assignee"])
            }
        return ReviewItemDetail(
            summary: summary, correlationId: try row["correlation_id"], submittedByName: try row["submitted_by_name"],
            event: try await PGDecisions.storedEvent(unit, id: summary.eventId),
            context: try? PolicyContext(json: StoredJSON.value(try row["context"]), accountId: summary.accountId, defaultNow: 0),
            verdicts: StoredJSON.verdicts(try row["policies"]), proposedActions: proposed.map { RecordedAction(fields: $0.objectValue ?? [:]) },
            proposedAmountMinor: item.proposedMoneyMinor, queuedActions: queued, history: history)
    }
}
