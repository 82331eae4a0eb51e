import ArbiterApp
import ArbiterCore
import Foundation
import PostgresNIO

/// Rows a group commit writes at its end, a table at a time, each table in one statement
/// (`unnest` of column arrays): what the decisions of a batch insert besides their events. A
/// commit of 64 decisions then costs a handful of round trips to the database, not 64 × 4.
/// Nullable columns travel as a value array and a "present" array.
struct StagedRows {
    private var events = Columns(count: 13)
    private var decisions = Columns(count: 12)
    private var reviews = Columns(count: 10)
    private var outbox = Columns(count: 11)

    var isEmpty: Bool { events.rows == 0 && decisions.rows == 0 && reviews.rows == 0 && outbox.rows == 0 }

    /// Text columns by position; `present` says which optional values are there.
    struct Columns {
        var text: [[String]]
        var present: [[Bool]]
        var rows = 0

        init(count: Int) {
            text = Array(repeating: [], count: count)
            present = Array(repeating: [], count: count)
        }

        mutating func append(_ values: [String?]) {
            for (i, value) in values.enumerated() {
                text[i].append(value ?? "")
                present[i].append(value != nil)
            }
            rows += 1
        }
    }

    /// An event a group commit inserts with the others of its batch. Written first at the
    /// flush; if any of them is already stored (a client's retry, the same event through the
    /// other instance), the flush fails with ``EventAlreadyStored`` and the committer decides
    /// the batch's work again one unit at a time, where a duplicate is found and answered.
    mutating func event(_ record: DecisionRecord) {
        let event = record.event, money = event.money
        events.append([record.eventId, event.source, event.id, event.type.rawValue, event.accountId, event.correlationId,
                       record.occurredAtText, record.receivedAtText, record.submittedBy, record.bodySHA256, record.body,
                       money.map { String($0.amountMinor) }, money?.currency.code])
    }

    mutating func decision(_ record: DecisionRecord) {
        func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
        let decision = record.decision
        decisions.append([record.decisionId, record.eventId, record.event.accountId, decision.outcome.rawValue, decision.queue,
                          text(record.encodedReasons), text(record.encodedActions), text(record.encodedPolicies), record.contextJSON,
                          record.response, record.decidedAtText, String(record.durationMicros)])
    }

    mutating func review(_ record: DecisionRecord, id: String) {
        let decision = record.decision
        reviews.append([id, record.decisionId, record.eventId, record.event.accountId, decision.queue ?? Queue.defaultReview,
                        record.submittedBy, String(max(1, decision.approvalsRequired)), record.slaDueText,
                        record.decidedAtText, record.decidedAtText])
    }

    mutating func outboxAction(id: String, type: String, amountMinor: Int64?, currency: String?, payload: String, decisionId: String,
                               accountId: String, correlationId: String, at: String, target: String = OutboxTarget.erp) {
        outbox.append([id, decisionId, accountId, correlationId, type, amountMinor.map(String.init), currency, payload, at, target, nil])
    }

    /// Writes what is staged, parents first, and empties the stage.
    mutating func flush(_ unit: WorkUnit) async throws {
        if events.rows > 0 {
            let c = events.text, p = events.present, count = events.rows
            // WITH ORDINALITY: events get their row ids in the order they were decided.
            let inserted = try await unit.rows("""
                INSERT INTO events (id, source, external_id, type, account_id, correlation_id, occurred_at, received_at,
                                    submitted_by, body_sha256, body, amount_minor, currency)
                SELECT id, source, external_id, type, account_id, correlation_id, occurred_at, received_at, submitted_by,
                       body_sha256, body, CASE WHEN has_amount THEN amount_minor::bigint END, CASE WHEN has_currency THEN currency END
                FROM unnest(\(c[0])::text[], \(c[1])::text[], \(c[2])::text[], \(c[3])::text[], \(c[4])::text[], \(c[5])::text[],
                            \(c[6])::text[], \(c[7])::text[], \(c[8])::text[], \(c[9])::text[], \(c[10])::text[],
                            \(c[11])::text[], \(p[11])::boolean[], \(c[12])::text[], \(p[12])::boolean[])
                     WITH ORDINALITY AS t(id, source, external_id, type, account_id, correlation_id, occurred_at, received_at,
                                          submitted_by, body_sha256, body, amount_minor, has_amount, currency, has_currency, n)
                ORDER BY n
                ON CONFLICT (source, external_id) DO NOTHING
                RETURNING id
                """)
            events = Columns(count: 13)
            guard inserted.count == count else { throw EventAlreadyStored() }
        }
        if decisions.rows > 0 {
            let c = decisions.text, p = decisions.present
            try await unit.run("""
                INSERT INTO decisions (id, event_id, account_id, outcome, queue, reasons, actions, policies, context, response,
                                       decided_at, duration_us)
                SELECT id, event_id, account_id, outcome, CASE WHEN has_queue THEN queue END, reasons, actions, policies, context,
                       response, decided_at, duration_us::bigint
                FROM unnest(\(c[0])::text[], \(c[1])::text[], \(c[2])::text[], \(c[3])::text[], \(c[4])::text[], \(p[4])::boolean[],
                            \(c[5])::text[], \(c[6])::text[], \(c[7])::text[], \(c[8])::text[], \(c[9])::text[], \(c[10])::text[],
                            \(c[11])::text[])
                     AS t(id, event_id, account_id, outcome, queue, has_queue, reasons, actions, policies, context, response,
                          decided_at, duration_us)
                """)
            decisions = Columns(count: 12)
        }
        if reviews.rows > 0 {
            let c = reviews.text, p = reviews.present
            try await unit.run("""
                INSERT INTO review_items (id, decision_id, event_id, account_id, queue, state, submitted_by, approvals_required,
                                          sla_due_at, created_at, updated_at)
                SELECT id, decision_id, event_id, account_id, queue, 'open', submitted_by, approvals_required::bigint,
                       CASE WHEN has_due THEN sla_due_at END, created_at, updated_at
                FROM unnest(\(c[0])::text[], \(c[1])::text[], \(c[2])::text[], \(c[3])::text[], \(c[4])::text[], \(c[5])::text[],
                            \(c[6])::text[], \(c[7])::text[], \(p[7])::boolean[], \(c[8])::text[], \(c[9])::text[])
                     AS t(id, decision_id, event_id, account_id, queue, submitted_by, approvals_required, sla_due_at, has_due,
                          created_at, updated_at)
                """)
            reviews = Columns(count: 10)
        }
        if outbox.rows > 0 {
            let c = outbox.text, p = outbox.present
            // WITH ORDINALITY: the line order (`seq`) is the order the actions were staged in.
            try await unit.run("""
                INSERT INTO outbox_actions (id, decision_id, account_id, correlation_id, type, amount_minor, currency, payload, status,
                                            created_at, target)
                SELECT id, decision_id, account_id, correlation_id, type, CASE WHEN has_amount THEN amount_minor::bigint END,
                       CASE WHEN has_currency THEN currency END, payload, 'pending', created_at, target
                FROM unnest(\(c[0])::text[], \(c[1])::text[], \(c[2])::text[], \(c[3])::text[], \(c[4])::text[], \(c[5])::text[],
                            \(p[5])::boolean[], \(c[6])::text[], \(p[6])::boolean[], \(c[7])::text[], \(c[8])::text[], \(c[9])::text[])
                     WITH ORDINALITY AS t(id, decision_id, account_id, correlation_id, type, amount_minor, has_amount, currency,
                                          has_currency, payload, created_at, target, n)
                ORDER BY n
                """)
            outbox = Columns(count: 11)
        }
    }
}

/// A staged event was already stored: the batch is decided again one unit at a time.
struct EventAlreadyStored: Error {}
