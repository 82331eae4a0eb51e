import ArbiterApp
import ArbiterCore
import Foundation
import GRDB

/// The decisions of an export (``DecisionExportRow``'s fields), streamed from the database:
/// one decision at a time with its review, deliveries and audit entry read beside it.
enum DecisionExport {
    /// Decisions with `decided_at` in [from, to) (and the filters), oldest first, each with
    /// its `decision.made` audit entry.
    static func rows(_ db: Database, _ request: ExportRequest, _ body: ([String: JSONValue], AuditPosition?) throws -> Void) throws {
        var conditions = ["d.decided_at >= ?", "d.decided_at < ?"]
        var arguments: StatementArguments = [Timestamp.format(request.from), Timestamp.format(request.to)]
        let filters = request.filters
        if let outcome = filters.outcome { conditions.append("d.outcome = ?"); arguments += [outcome] }
        if let queue = filters.queue { conditions.append("d.queue = ?"); arguments += [queue] }
        if let account = filters.accountId { conditions.append("d.account_id = ?"); arguments += [account] }
        if let actor = filters.actor { conditions.append("e.submitted_by = ?"); arguments += [actor] }
        if let policy = filters.policy {
            conditions.append("EXISTS (SELECT 1 FROM json_each(d.policies) p WHERE json_extract(p.value, '$.name') = ?)")
            arguments += [policy]
        }
        let rows = try Row.fetchCursor(db, sql: """
            SELECT d.id, d.decided_at, d.event_id, e.type, e.source, e.external_id, d.account_id, e.correlation_id,
                   e.submitted_by, e.occurred_at, e.received_at, d.outcome, d.queue, e.amount_minor, e.currency,
                   d.reasons, d.actions, d.policies, e.body, r.id, r.state
            FROM decisions d JOIN events e ON e.id = d.event_id LEFT JOIN review_items r ON r.decision_id = d.id
            WHERE \(conditions.joined(separator: " AND ")) ORDER BY d.decided_at, d.rowid
            """, arguments: arguments)
        let reviewDecisions = try db.cachedStatement(sql: """
            SELECT at, actor, action, amount_minor, comment FROM review_history
            WHERE review_id = ? AND action IN ('approved', 'rejected') ORDER BY id
            """)
        let deliveries = try db.cachedStatement(sql: """
            SELECT id, type, status, erp_reference, attempts, delivered_at, last_error FROM outbox_actions
            WHERE decision_id = ? AND target = 'erp' ORDER BY rowid
            """)
        let auditEntry = try db.cachedStatement(sql: """
            SELECT seq, hash FROM audit_log WHERE correlation_id = ? AND kind = 'decision.made' AND subject = ?
            """)
        while let row = try rows.next() {
            var decision = ExportedDecision()
            decision.decisionId = row[0]
            decision.decidedAt = row[1]
            decision.eventId = row[2]
            decision.eventType = row[3]
            decision.source = row[4]
            decision.externalId = row[5]
            decision.accountId = row[6]
            decision.correlationId = row[7]
            decision.submittedBy = row[8]
            decision.occurredAt = row[9]
            decision.receivedAt = row[10]
            decision.outcome = row[11]
            decision.queue = row[12]
            decision.amountMinor = row[13]
            decision.currency = row[14]
            decision.reasons = row[15]
            decision.actions = row[16]
            decision.policies = row[17]
            decision.body = row[18]
            decision.reviewId = row[19]
            decision.reviewState = row[20]
            if let reviewId = decision.reviewId {
                let history = try Row.fetchCursor(reviewDecisions, arguments: [reviewId])
                while let step = try history.next() {
                    decision.reviewDecisions.append(.init(at: step[0], reviewer: step[1], action: step[2], amountMinor: step[3],
                                                          comment: step[4]))
                }
            }
            let actions = try Row.fetchCursor(deliveries, arguments: [decision.decisionId])
            while let action = try actions.next() {
                decision.deliveries.append(.init(actionId: action[0], type: action[1], status: action[2], erpReference: action[3],
                                                 attempts: action[4], deliveredAt: action[5], lastError: action[6]))
            }
            if let entry = try Row.fetchOne(auditEntry, arguments: [decision.correlationId, decision.decisionId]) {
                decision.audit = AuditPosition(seq: entry[0], hash: entry[1])
            }
            try body(try decision.fields(), decision.audit)
        }
    }
}
