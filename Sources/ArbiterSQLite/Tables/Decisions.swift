import ArbiterApp
import ArbiterCore
import Foundation
import GRDB

/// Events, their decisions and what the decisions route to.
public enum Decisions {
    /// Writes one decided event in the caller's transaction: the event, the decision, the
    /// review item or the outbox actions, the account change of a signal, and the audit entries
    /// (appended to `chain`). An event already stored under the same `source` + `id` writes
    /// nothing.
    public static func insert(_ db: Database, _ record: DecisionRecord, chain: inout AuditChain) throws -> DecisionWrite {
        let event = record.event
        let money = event.money
        // Insert first, look up only on a conflict: the unique index on (source, external_id)
        // is searched once either way, and resubmissions are the rare case.
        try db.cachedStatement(sql: """
            INSERT INTO events (id, source, external_id, type, account_id, correlation_id, occurred_at, received_at,
                                submitted_by, body_sha256, body, amount_minor, currency)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (source, external_id) DO NOTHING
            """).execute(arguments: [
                record.eventId, event.source, event.id, event.type.rawValue, event.accountId, event.correlationId,
                record.occurredAtText, record.receivedAtText, record.submittedBy,
                record.bodySHA256, record.body, money?.amountMinor, money?.currency.code,
            ])
        if db.changesCount == 0 {
            guard let existing = try existing(db, source: event.source, externalId: event.id) else {
                throw DatabaseError(message: "event \(event.source)/\(event.id) conflicts but cannot be read")
            }
            return .duplicate(eventId: existing.eventId, sameBody: existing.bodySHA256 == record.bodySHA256,
                              response: existing.response)
        }
        let decision = record.decision
        let decidedAt = record.decidedAtText
        func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
        try db.cachedStatement(sql: """
            INSERT INTO decisions (id, event_id, account_id, outcome, queue, reasons, actions, policies, context, response,
                                   decided_at, duration_us)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [
                record.decisionId, record.eventId, event.accountId, decision.outcome.rawValue, decision.queue,
                text(record.encodedReasons), text(record.encodedActions), text(record.encodedPolicies), record.contextJSON,
                record.response, decidedAt, record.durationMicros,
            ])
        switch decision.outcome {
        case .review:
            guard let reviewId = record.reviewId else { throw DatabaseError(message: "a review decision needs a review id") }
            try db.cachedStatement(sql: """
                INSERT INTO review_items (id, decision_id, event_id, account_id, queue, state, submitted_by, approvals_required,
                                          sla_due_at, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?)
                """).execute(arguments: [
                    reviewId, record.decisionId, record.eventId, event.accountId, decision.queue ?? Queue.defaultReview,
                    record.submittedBy, max(1, decision.approvalsRequired), record.slaDueText, decidedAt, decidedAt,
                ])
        case .approve:
            for (i, (action, payload)) in zip(record.actionsJSON, record.outboxPayloads).enumerated() {
                try Outbox.insert(db, action: action, payload: payload, decisionId: record.decisionId, reviewId: nil,
                                  accountId: event.accountId, correlationId: event.correlationId, at: decidedAt,
                                  target: record.actionTargets[i])
            }
        case .reject, .recorded:
            break
        }
        try chain.append(db, record.receivedAudit)
        try chain.append(db, record.decisionAudit)
        if let account = record.accountUpdate {
            try AccountRows.save(db, account, actor: record.submittedBy, at: record.decidedAt, kind: "account.updated",
                              correlationId: event.correlationId, cause: record.eventId, chain: &chain)
        }
        if let message = record.inbound { try InboundRows.insert(db, message) }
        if let answer = record.answer {
            try Outbox.insert(db, action: answer.action, payload: answer.payload, decisionId: record.decisionId, reviewId: nil,
                              accountId: event.accountId, correlationId: event.correlationId, at: decidedAt, target: OutboxTarget.answers)
        }
        return .stored
    }

    /// The event already stored under `source` + `externalId`, if any: its id, body digest and
    /// the response it was given.
    static func existing(_ db: Database, source: String, externalId: String) throws
        -> (eventId: String, bodySHA256: String, response: String)? {
        try Row.fetchOne(
            db.cachedStatement(sql: """
                SELECT e.id, e.body_sha256, d.response FROM events e JOIN decisions d ON d.event_id = e.id
                WHERE e.source = ? AND e.external_id = ?
                """),
            arguments: [source, externalId]).map { ($0["id"], $0["body_sha256"], $0["response"]) }
    }

    // MARK: Reading

    /// An event as stored, typed, with the id of its decision.
    public static func storedEvent(_ db: Database, id: String) throws -> StoredEvent? {
        guard let row = try Row.fetchOne(db, sql: """
            SELECT e.*, d.id AS decision_id FROM events e LEFT JOIN decisions d ON d.event_id = e.id WHERE e.id = ?
            """, arguments: [id]) else { return nil }
        return StoredEvent(id: row["id"], source: row["source"], externalId: row["external_id"], type: row["type"],
                           accountId: row["account_id"], correlationId: row["correlation_id"], occurredAt: row["occurred_at"],
                           receivedAt: row["received_at"], submittedBy: row["submitted_by"], bodySHA256: row["body_sha256"],
                           envelope: json(row["body"]), decisionId: row["decision_id"])
    }

    /// Verdicts as recorded with a decision.
    static func verdicts(_ text: String?) -> [PolicyResult] { StoredJSON.verdicts(text) }

    static func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }

    /// A decision as stored: outcome, reasons, actions, every policy's verdict and the context
    /// it was made against.
    public static func decision(_ db: Database, id: String) throws -> StoredDecision? {
        try Row.fetchOne(db, sql: "\(selectDecisions) WHERE d.id = ?", arguments: [id]).map { decision($0, withContext: true) }
    }

    /// Decisions oldest first (ids are time-ordered), one page, and the cursor of the next page.
    public static func list(_ db: Database, _ filter: DecisionFilter) throws -> Page<StoredDecision> {
        var clauses: [String] = []
        var arguments: StatementArguments = []
        if let accountId = filter.accountId { clauses.append("d.account_id = ?"); arguments += [accountId] }
        if let outcome = filter.outcome { clauses.append("d.outcome = ?"); arguments += [outcome.rawValue] }
        if let from = filter.from { clauses.append("d.decided_at >= ?"); arguments += [Timestamp.format(from)] }
        if let to = filter.to { clauses.append("d.decided_at < ?"); arguments += [Timestamp.format(to)] }
        if let after = filter.after { clauses.append("d.id > ?"); arguments += [after] }
        let whereClause = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        arguments += [filter.limit + 1]
        let rows = try Row.fetchAll(db, sql: "\(selectDecisions) \(whereClause) ORDER BY d.id LIMIT ?", arguments: arguments)
        let page = rows.prefix(filter.limit)
        let next: String? = rows.count > filter.limit ? page.last?["id"] : nil
        return Page(items: page.map { decision($0, withContext: false) }, next: next)
    }

    static let selectDecisions = """
        SELECT d.*, e.type AS event_type, e.correlation_id, r.id AS review_id, r.state AS review_state
        FROM decisions d JOIN events e ON e.id = d.event_id LEFT JOIN review_items r ON r.decision_id = d.id
        """

    static func decision(_ row: Row, withContext: Bool) -> StoredDecision {
        let accountId: String = row["account_id"]
        return StoredDecision(
            id: row["id"], eventId: row["event_id"], eventType: row["event_type"], accountId: accountId,
            correlationId: row["correlation_id"], outcome: DecisionOutcome(rawValue: row["outcome"]) ?? .review, queue: row["queue"],
            reasons: StoredJSON.strings(row["reasons"]), actions: StoredJSON.actions(row["actions"]),
            verdicts: verdicts(row["policies"]), decidedAt: row["decided_at"], durationMicros: row["duration_us"],
            reviewId: row["review_id"], reviewState: row["review_state"],
            context: withContext ? try? PolicyContext(json: json(row["context"]), accountId: accountId, defaultNow: 0) : nil)
    }

    /// Stored JSON text back as a value (the store only ever writes valid JSON there).
    static func json(_ text: String?) -> JSONValue { StoredJSON.value(text) }
}
