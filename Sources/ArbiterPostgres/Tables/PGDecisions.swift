import ArbiterApp
import ArbiterCore
import Foundation
import PostgresNIO

/// Events, their decisions and what the decisions route to (the embedded store's `Decisions`).
enum PGDecisions {
    /// Writes one decided event: the event, the decision, the review item or the outbox actions,
    /// the account change of a signal, and the audit entries. An event already stored under the
    /// same `source` + `id` writes nothing (the unique index finds it; an instance inserting it
    /// at the same moment is waited for).
    ///
    /// In a group commit of several units the event is staged with the rest (one statement for
    /// the batch's events, see ``StagedRows/event(_:)``); alone, or when the batch already
    /// stages the same event, it is inserted at once so that a duplicate is found here.
    static func insert(_ unit: WorkUnit, _ record: DecisionRecord) async throws -> DecisionWrite {
        let event = record.event
        if unit.stagesEvents, unit.stageEvent(source: event.source, id: event.id) {
            stageRest(unit, record, event: true)
        } else {
            if unit.stagesEvents { try await unit.flushStaged() }   // the same event, staged earlier in the batch
            if let duplicate = try await insertEvent(unit, record) { return duplicate }
            stageRest(unit, record, event: false)
        }
        if record.decision.outcome == .review && record.reviewId == nil { throw Refusal.conflict("a review decision needs a review id") }
        unit.audit(record.receivedAudit)
        unit.audit(record.decisionAudit)
        if let account = record.accountUpdate {
            try await PGAccounts.save(unit, account, actor: record.submittedBy, at: record.decidedAt, kind: "account.updated",
                                      correlationId: event.correlationId, cause: record.eventId)
        }
        if let message = record.inbound { _ = try await PostgresInboxStore.insert(unit, message) }
        return .stored
    }

    /// Inserts the event now; the duplicate if one is stored under its `source` + `id`.
    private static func insertEvent(_ unit: WorkUnit, _ record: DecisionRecord) async throws -> DecisionWrite? {
        let event = record.event
        let money = event.money
        let inserted = try await unit.value("""
            INSERT INTO events (id, source, external_id, type, account_id, correlation_id, occurred_at, received_at,
                                submitted_by, body_sha256, body, amount_minor, currency)
            VALUES (\(record.eventId), \(event.source), \(event.id), \(event.type.rawValue), \(event.accountId), \(event.correlationId),
                    \(record.occurredAtText), \(record.receivedAtText), \(record.submittedBy), \(record.bodySHA256), \(record.body),
                    \(money?.amountMinor), \(money?.currency.code))
            ON CONFLICT (source, external_id) DO NOTHING
            RETURNING id
            """, as: String.self)
        if inserted == nil {
            try await unit.flushStaged()   // the first of two in one commit may still be staged
            guard let existing = try await unit.row("""
                SELECT e.id, e.body_sha256, d.response FROM events e JOIN decisions d ON d.event_id = e.id
                WHERE e.source = \(event.source) AND e.external_id = \(event.id)
                """) else {
                throw Refusal.conflict("event \(event.source)/\(event.id) conflicts but cannot be read")
            }
            return .duplicate(eventId: try existing["id"], sameBody: try existing["body_sha256"] == record.bodySHA256,
                              response: try existing["response"])
        }
        return nil
    }

    /// The rest goes in with the other decisions of the commit (``StagedRows``).
    private static func stageRest(_ unit: WorkUnit, _ record: DecisionRecord, event stagesEvent: Bool) {
        let event = record.event
        let decision = record.decision
        unit.stage(account: event.accountId) { rows in
            if stagesEvent { rows.event(record) }
            rows.decision(record)
            switch decision.outcome {
            case .review:
                if let reviewId = record.reviewId { rows.review(record, id: reviewId) }
            case .approve:
                for (i, (action, payload)) in zip(record.actionsJSON, record.outboxPayloads).enumerated() {
                    guard let id = action["id"]?.stringValue, let type = action["type"]?.stringValue else { continue }
                    rows.outboxAction(id: id, type: type, amountMinor: action["amount_minor"]?.intValue,
                                      currency: action["currency"]?.stringValue, payload: payload, decisionId: record.decisionId,
                                      accountId: event.accountId, correlationId: event.correlationId, at: record.decidedAtText,
                                      target: record.actionTargets[i])
                }
            case .reject, .recorded:
                break
            }
            if let answer = record.answer, let id = answer.action["id"]?.stringValue {
                rows.outboxAction(id: id, type: RequesterAnswer.type, amountMinor: answer.action["amount_minor"]?.intValue,
                                  currency: answer.action["currency"]?.stringValue, payload: answer.payload, decisionId: record.decisionId,
                                  accountId: event.accountId, correlationId: event.correlationId, at: record.decidedAtText,
                                  target: OutboxTarget.answers)
            }
        }
    }

    // MARK: Reading

    static func storedEvent(_ unit: WorkUnit, id: String) async throws -> StoredEvent? {
        guard let row = try await unit.row("""
            SELECT e.*, d.id AS decision_id FROM events e LEFT JOIN decisions d ON d.event_id = e.id WHERE e.id = \(id)
            """) else { return nil }
        return StoredEvent(id: try row["id"], source: try row["source"], externalId: try row["external_id"], type: try row["type"],
                           accountId: try row["account_id"], correlationId: try row["correlation_id"],
                           occurredAt: try row["occurred_at"], receivedAt: try row["received_at"], submittedBy: try row["submitted_by"],
                           bodySHA256: try row["body_sha256"], envelope: StoredJSON.value(try row["body"]),
                           decisionId: try row["decision_id"])
    }

    static let selectDecisions = """
        SELECT d.*, e.type AS event_type, e.correlation_id, r.id AS review_id, r.state AS review_state
        FROM decisions d JOIN events e ON e.id = d.event_id LEFT JOIN review_items r ON r.decision_id = d.id
        """

    static func decision(_ unit: WorkUnit, id: String) async throws -> StoredDecision? {
        var sql = SQL(selectDecisions)
        sql.append(" WHERE d.id = \(sql.bind(id))")
        return try await unit.row(sql.query).map { try decision($0, withContext: true) }
    }

    /// Decisions oldest first (ids are time-ordered), one page, and the cursor of the next page.
    static func list(_ unit: WorkUnit, _ filter: DecisionFilter) async throws -> Page<StoredDecision> {
        var sql = SQL(selectDecisions)
        var clauses: [String] = []
        if let accountId = filter.accountId { clauses.append("d.account_id = \(sql.bind(accountId))") }
        if let outcome = filter.outcome { clauses.append("d.outcome = \(sql.bind(outcome.rawValue))") }
        if let from = filter.from { clauses.append("d.decided_at >= \(sql.bind(Timestamp.format(from)))") }
        if let to = filter.to { clauses.append("d.decided_at < \(sql.bind(Timestamp.format(to)))") }
        if let after = filter.after { clauses.append("d.id > \(sql.bind(after))") }
        if !clauses.isEmpty { sql.append(" WHERE " + clauses.joined(separator: " AND ")) }
        sql.append(" ORDER BY d.id LIMIT \(sql.bind(Int64(filter.limit + 1)))")
        let rows = try await unit.rows(sql.query)
        let page = try rows.prefix(filter.limit).map { try decision($0, withContext: false) }
        return Page(items: page, next: rows.count > filter.limit ? page.last?.id : nil)
    }

    static func decision(_ row: Row, withContext: Bool) throws -> StoredDecision {
        let accountId: String = try row["account_id"]
        return StoredDecision(
            id: try row["id"], eventId: try row["event_id"], eventType: try row["event_type"], accountId: accountId,
            correlationId: try row["correlation_id"], outcome: DecisionOutcome(rawValue: try row["outcome"]) ?? .review,
            queue: try row["queue"], reasons: StoredJSON.strings(try row["reasons"]), actions: StoredJSON.actions(try row["actions"]),
            verdicts: StoredJSON.verdicts(try row["policies"]), decidedAt: try row["decided_at"], durationMicros: try row["duration_us"],
            reviewId: try row["review_id"], reviewState: try row["review_state"],
            context: withContext ? try? PolicyContext(json: StoredJSON.value(try row["context"]), accountId: accountId, defaultNow: 0) : nil)
    }
}
