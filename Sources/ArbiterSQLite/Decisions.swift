import ArbiterApp
import ArbiterCore
import Foundation
import GRDB

/// Everything one event's decision writes, prepared before the write transaction so the
/// transaction itself only inserts rows.
public struct DecisionRecord: Sendable {
    /// Arbiter's id for the event (UUIDv7).
    public var eventId: String
    public var event: Event
    /// The envelope as canonical JSON: what is stored and hashed for idempotent replays.
    public var body: String
    public var bodySHA256: String
    /// The submitting API key's id.
    public var submittedBy: String
    public var receivedAt: Date
    public var decisionId: String
    public var decision: Decision
    /// One id per decision action, in order: the outbox id and ERP idempotency key.
    public var actionIds: [String]
    /// Set when the decision is review.
    public var reviewId: String?
    public var context: PolicyContext
    public var decidedAt: Date
    public var durationMicros: Int64
    /// The account snapshot after a signal event changed it.
    public var accountUpdate: AccountSnapshot?
    /// The response body, stored so a resubmission gets exactly the same answer.
    public var response: String
    /// The decision's actions with their ids (see ``actionIds``).
    public let actionsJSON: [JSONValue]
    /// Canonical JSON of the reasons, the actions with ids and the policy verdicts, encoded once
    /// for the columns, the audit entry and the response.
    public let encodedReasons: [UInt8]
    public let encodedActions: [UInt8]
    public let encodedPolicies: [UInt8]
    /// Everything else the write needs, prepared here (on the request's thread) so the single
    /// writer only binds values and chains the audit entries.
    let occurredAtText: String
    let receivedAtText: String
    /// `decidedAt` and the SLA due time (review only) as stored and returned.
    public let decidedAtText: String
    public let slaDueText: String?
    let contextJSON: String
    let outboxPayloads: [String]
    let receivedAudit: AuditDraft
    let decisionAudit: AuditDraft

    public init(eventId: String, event: Event, body: String, bodySHA256: String, submittedBy: String, receivedAt: Date,
                decisionId: String, decision: Decision, actionIds: [String], reviewId: String?, context: PolicyContext,
                decidedAt: Date, durationMicros: Int64, accountUpdate: AccountSnapshot?, response: String) {
        self.eventId = eventId
        self.event = event
        self.body = body
        self.bodySHA256 = bodySHA256
        self.submittedBy = submittedBy
        self.receivedAt = receivedAt
        self.decisionId = decisionId
        self.decision = decision
        self.actionIds = actionIds
        self.reviewId = reviewId
        self.context = context
        self.decidedAt = decidedAt
        self.durationMicros = durationMicros
        self.accountUpdate = accountUpdate
        self.response = response
        let actions = zip(actionIds, decision.actions).map { id, action -> JSONValue in
            var fields = action.fields
            fields["id"] = .string(id)
            return .object(fields)
        }
        self.actionsJSON = actions
        let reasons = CanonicalJSON.encode(.array(decision.reasons.map(JSONValue.string)))
        let encodedActions = CanonicalJSON.encode(.array(actions))
        self.encodedReasons = reasons
        self.encodedActions = encodedActions
        self.encodedPolicies = CanonicalJSON.encode(.array(decision.policies.map(\.json)))
        let occurred = Timestamp.format(event.occurredAt)
        self.occurredAtText = occurred
        let received = Timestamp.format(receivedAt)
        let decided = Timestamp.format(decidedAt)
        self.receivedAtText = received
        self.decidedAtText = decided
        self.slaDueText = decision.outcome == .review
            ? decision.slaSeconds.map { Timestamp.format(decidedAt.addingTimeInterval(TimeInterval($0))) } : nil
        self.contextJSON = CanonicalJSON.string(context.json)
        self.outboxPayloads = decision.outcome == .approve
            ? actions.map { Outbox.payload($0, accountId: event.accountId, correlationId: event.correlationId, decisionId: decisionId) }
            : []
        self.receivedAudit = AuditDraft(
            actor: submittedBy, kind: "event.received", subject: eventId, correlationId: event.correlationId, at: received,
            dataJSON: CanonicalJSON.encode(Decisions.receivedAuditData(event: event, occurredAt: occurred, bodySHA256: bodySHA256)))
        self.decisionAudit = AuditDraft(
            actor: submittedBy, kind: "decision.made", subject: decisionId, correlationId: event.correlationId, at: decided,
            dataJSON: Decisions.decisionAuditData(eventId: eventId, decision: decision, reviewId: reviewId,
                                                  reasons: reasons, actions: encodedActions))
    }
}

/// What writing a decision did.
public enum DecisionWrite: Sendable, Equatable {
    case stored
    /// The same `source` + `id` was already decided: its stored response, and whether the
    /// stored body is the same as this one.
    case duplicate(eventId: String, sameBody: Bool, response: String)
}

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
            for (action, payload) in zip(record.actionsJSON, record.outboxPayloads) {
                try Outbox.insert(db, action: action, payload: payload, decisionId: record.decisionId, reviewId: nil,
                                  accountId: event.accountId, correlationId: event.correlationId, at: decidedAt)
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

    /// The event's identity and a digest of its body: the stored body can be checked against it.
    static func receivedAuditData(event: Event, occurredAt: String, bodySHA256: String) -> JSONValue {
        var data: [String: JSONValue] = [
            "type": .string(event.type.rawValue), "source": .string(event.source), "external_id": .string(event.id),
            "account_id": .string(event.accountId), "occurred_at": .string(occurredAt),
            "body_sha256": .string(bodySHA256),
        ]
        if let money = event.money {
            data["amount_minor"] = .int(money.amountMinor)
            data["currency"] = .string(money.currency.code)
        }
        return .object(data)
    }

    /// The outcome, its reasons and actions, and which version of each policy decided.
    static func decisionAuditData(eventId: String, decision: Decision, reviewId: String?, reasons: [UInt8],
                                  actions: [UInt8]) -> [UInt8] {
        let policies: JSONValue = .array(decision.policies.map { p in
            .object(["name": .string(p.name), "version": .string(p.version), "outcome": .string(p.outcome.rawValue),
                     "error": p.error.map(JSONValue.string) ?? .null])
        })
        return CanonicalJSON.object([
            ("event_id", CanonicalJSON.encode(.string(eventId))),
            ("outcome", CanonicalJSON.encode(.string(decision.outcome.rawValue))),
            ("queue", CanonicalJSON.encode(decision.queue.map(JSONValue.string) ?? .null)),
            ("reasons", reasons), ("actions", actions),
            ("review_id", CanonicalJSON.encode(reviewId.map(JSONValue.string) ?? .null)),
            ("policies", CanonicalJSON.encode(policies)),
        ])
    }

    // MARK: Reading

    /// An event as stored, with the id of its decision.
    public static func event(_ db: Database, id: String) throws -> JSONValue? {
        guard let row = try Row.fetchOne(db, sql: """
            SELECT e.*, d.id AS decision_id FROM events e LEFT JOIN decisions d ON d.event_id = e.id WHERE e.id = ?
            """, arguments: [id]) else { return nil }
        var fields: [String: JSONValue] = [:]
        for column in ["id", "source", "external_id", "type", "account_id", "correlation_id", "occurred_at", "received_at",
                       "submitted_by", "body_sha256"] {
            fields[column] = .string(row[column])
        }
        fields["envelope"] = json(row["body"])
        fields["decision_id"] = text(row["decision_id"])
        return .object(fields)
    }

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
    static func verdicts(_ text: String?) -> [PolicyResult] {
        (json(text).arrayValue ?? []).compactMap { try? PolicyResult(json: $0) }
    }

    static func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }

    /// A decision as stored: outcome, reasons, actions, every policy's verdict and the context
    /// it was made against.
    public static func decision(_ db: Database, id: String) throws -> JSONValue? {
        try Row.fetchOne(db, sql: "\(selectDecisions) WHERE d.id = ?", arguments: [id]).map { decisionJSON($0, withContext: true) }
    }

    /// Filters for listing decisions. Times compare as stored (normalized UTC text).
    public struct Filter: Sendable {
        public var accountId: String?
        public var outcome: DecisionOutcome?
        public var from: Date?
        public var to: Date?
        /// The last decision id of the previous page.
        public var after: String?
        public var limit: Int

        public init(accountId: String? = nil, outcome: DecisionOutcome? = nil, from: Date? = nil, to: Date? = nil,
                    after: String? = nil, limit: Int = 50) {
            self.accountId = accountId
            self.outcome = outcome
            self.from = from
            self.to = to
            self.after = after
            self.limit = limit
        }
    }

    /// Decisions oldest first (ids are time-ordered), one page, and the cursor of the next page.
    public static func list(_ db: Database, _ filter: Filter) throws -> (items: [JSONValue], next: String?) {
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
        return (page.map { decisionJSON($0, withContext: false) }, next)
    }

    static let selectDecisions = """
        SELECT d.*, e.type AS event_type, e.correlation_id, r.id AS review_id, r.state AS review_state
        FROM decisions d JOIN events e ON e.id = d.event_id LEFT JOIN review_items r ON r.decision_id = d.id
        """

    static func decisionJSON(_ row: Row, withContext: Bool) -> JSONValue {
        var fields: [String: JSONValue] = [:]
        for column in ["id", "event_id", "event_type", "account_id", "correlation_id", "outcome", "decided_at"] {
            fields[column] = .string(row[column])
        }
        for column in ["queue", "review_id", "review_state"] { fields[column] = text(row[column]) }
        for column in ["reasons", "actions", "policies"] { fields[column] = json(row[column]) }
        fields["duration_us"] = .int(row["duration_us"])
        if withContext { fields["context"] = json(row["context"]) }
        return .object(fields)
    }

    /// Stored JSON text back as a value (the store only ever writes valid JSON there).
    static func json(_ text: String?) -> JSONValue {
        guard let text else { return .null }
        return (try? JSONValue.parse(Data(text.utf8))) ?? .string(text)
    }
}

/// Approved actions waiting for the ERP.
public enum Outbox {
    /// The JSON sent to the ERP for an action (its fields and `id`): the action plus the account,
    /// the correlation id and the decision it came from.
    public static func payload(_ action: JSONValue, accountId: String, correlationId: String, decisionId: String) -> String {
        var payload = action.objectValue ?? [:]
        payload["account_id"] = .string(accountId)
        payload["correlation_id"] = .string(correlationId)
        payload["decision_id"] = .string(decisionId)
        return CanonicalJSON.string(.object(payload))
    }

    /// Queues one action (with its `id` and ERP payload) in the caller's transaction.
    static func insert(_ db: Database, action: JSONValue, payload: String, decisionId: String, reviewId: String?,
                       accountId: String, correlationId: String, at: String) throws {
        guard let id = action["id"]?.stringValue, let type = action["type"]?.stringValue else {
            throw DatabaseError(message: "an outbox action needs an id and a type")
        }
        try db.cachedStatement(sql: """
            INSERT INTO outbox_actions (id, decision_id, review_id, account_id, correlation_id, type, amount_minor, currency,
                                        payload, status, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)
            """).execute(arguments: [
                id, decisionId, reviewId, accountId, correlationId, type, action["amount_minor"]?.intValue,
                action["currency"]?.stringValue, payload, at,
            ])
    }
}
