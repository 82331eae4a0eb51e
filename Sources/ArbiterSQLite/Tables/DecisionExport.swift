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
            WHERE decision_id = ? ORDER BY rowid
            """)
        let auditEntry = try db.cachedStatement(sql: """
            SELECT seq, hash FROM audit_log WHERE correlation_id = ? AND kind = 'decision.made' AND subject = ?
            """)
        while let row = try rows.next() {
            let decisionId: String = row[0]
            let correlationId: String = row[7]
            let amountMinor: Int64? = row[13]
            let currency: String? = row[14]
            var fields: [String: JSONValue] = [
                "decision_id": .string(decisionId), "decided_at": .string(row[1]), "event_id": .string(row[2]),
                "event_type": .string(row[3]), "source": .string(row[4]), "external_id": .string(row[5]),
                "account_id": .string(row[6]), "correlation_id": .string(correlationId), "submitted_by": .string(row[8]),
                "occurred_at": .string(row[9]), "received_at": .string(row[10]), "outcome": .string(row[11]),
                "queue": (row[12] as String?).map(JSONValue.string) ?? .null,
                "amount_minor": amountMinor.map(JSONValue.int) ?? .null, "currency": currency.map(JSONValue.string) ?? .null,
                "amount": decimal(amountMinor, currency),
                "reasons": try json(row[15]),
                "actions": withAmounts(try json(row[16])),
                "policies": try json(row[17]),
                "payload": try json(row[18])["payload"] ?? .null,
            ]
            let reviewId: String? = row[19]
            fields["review_id"] = reviewId.map(JSONValue.string) ?? .null
            fields["review_state"] = (row[20] as String?).map(JSONValue.string) ?? .null
            var decided: [JSONValue] = []
            if let reviewId {
                let history = try Row.fetchCursor(reviewDecisions, arguments: [reviewId])
                while let step = try history.next() {
                    decided.append(.object([
                        "at": .string(step[0]), "reviewer": .string(step[1]), "action": .string(step[2]),
                        "amount_minor": (step[3] as Int64?).map(JSONValue.int) ?? .null,
                        "comment": (step[4] as String?).map(JSONValue.string) ?? .null,
                    ]))
                }
            }
            fields["review_decisions"] = .array(decided)
            var delivered: [JSONValue] = [], statuses: [String] = [], references: [JSONValue] = []
            let actions = try Row.fetchCursor(deliveries, arguments: [decisionId])
            while let action = try actions.next() {
                let status: String = action[2]
                let reference: String? = action[3]
                statuses.append(status)
                if let reference { references.append(.string(reference)) }
                delivered.append(.object([
                    "action_id": .string(action[0]), "type": .string(action[1]), "status": .string(status),
                    "erp_reference": reference.map(JSONValue.string) ?? .null, "attempts": .int(action[4]),
                    "delivered_at": (action[5] as String?).map(JSONValue.string) ?? .null,
                    "last_error": (action[6] as String?).map(JSONValue.string) ?? .null,
                ]))
            }
            fields["deliveries"] = .array(delivered)
            fields["erp_status"] = .string(DecisionExportRow.erpStatus(statuses))
            fields["erp_references"] = .array(references)
            var position: AuditPosition?
            if let entry = try Row.fetchOne(auditEntry, arguments: [correlationId, decisionId]) {
                position = AuditPosition(seq: entry[0], hash: entry[1])
            }
            fields["audit_seq"] = position.map { .int($0.seq) } ?? .null
            fields["audit_hash"] = position.map { .string($0.hash) } ?? .null
            try body(fields, position)
        }
    }

    /// A stored JSON column.
    private static func json(_ text: String) throws -> JSONValue {
        var text = text
        return try text.withUTF8 { try JSONValue.parse($0) }
    }

    /// Minor units as a decimal string in the currency's major unit, or null.
    private static func decimal(_ minor: Int64?, _ code: String?) -> JSONValue {
        guard let minor, let currency = code.flatMap(Currency.init) else { return .null }
        return .string(Money.format(minor, exponent: currency.exponent))
    }

    /// Each action with money gets its `amount` as a decimal string beside `amount_minor`.
    private static func withAmounts(_ actions: JSONValue) -> JSONValue {
        guard case .array(let items) = actions else { return actions }
        return .array(items.map { item in
            guard case .object(var fields) = item else { return item }
            let amount = decimal(fields["amount_minor"]?.intValue, fields["currency"]?.stringValue)
            if amount != .null { fields["amount"] = amount }
            return .object(fields)
        })
    }
}
