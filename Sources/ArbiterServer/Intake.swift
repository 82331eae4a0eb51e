import ArbiterApp
import ArbiterCore
import ArbiterPolicy
import ArbiterSQLite
import Foundation
import GRDB

/// The decision pipeline for one event: context → policies → combine → one durable write.
///
/// Policies run outside the write transaction, on the policy workers (``PolicyWorkers``): a
/// policy that spends its whole time limit costs its own event that time, never the writes of
/// the rest of the service. Decisions for one account are still made one at a time, each
/// seeing every earlier one, so a cumulative cap cannot be raced past:
/// - within this process, one decision per account is in flight (``KeyedLock``) from reading
///   the context to the commit;
/// - inside the write transaction the context is read again and must equal the one the
///   policies saw — a review, an account sync or a delivery may have changed it meanwhile.
///   Then the event is decided again on the new context; after `attempts` tries the last one
///   is decided inside the transaction, so every event is decided (a breaker stops a policy
///   that keeps hitting its limits, see ``PolicyHealth``).
/// The rows of all events in flight share a group commit.
final class Intake: Sendable {
    let engine: PolicyEngine
    let workers: PolicyWorkers
    let database: AppDatabase
    let guardrails: Guardrails
    /// Queue rules applied to review decisions (default SLA, two approvals over a threshold).
    let reviews: ReviewSettings
    let committer: GroupCommitter
    let metrics: ServiceMetrics
    /// Called after a commit that queued actions for the ERP.
    let onQueued: @Sendable () -> Void
    /// Versions evaluated beside the live set after each decision is committed.
    let shadow: ShadowMode
    private let accounts = KeyedLock()
    static let attempts = 3
    /// Runs after the policies decided an event and before its write is submitted: where tests
    /// change the account in between, to see the decision made again.
    let decided: @Sendable (Event) async -> Void

    init(engine: PolicyEngine, workers: PolicyWorkers, database: AppDatabase, guardrails: Guardrails, reviews: ReviewSettings,
         committer: GroupCommitter, metrics: ServiceMetrics, shadow: ShadowMode, onQueued: @escaping @Sendable () -> Void = {},
         decided: @escaping @Sendable (Event) async -> Void = { _ in }) {
        self.onQueued = onQueued
        self.decided = decided
        self.shadow = shadow
        self.engine = engine
        self.workers = workers
        self.database = database
        self.guardrails = guardrails
        self.reviews = reviews
        self.committer = committer
        self.metrics = metrics
    }

    enum Result: Sendable {
        /// Decided and stored now: the response body.
        case decided(String)
        /// Already decided earlier with the same body: the original response body.
        case replayed(String)
        /// Already decided earlier with a different body.
        case conflict(eventId: String)
    }

    /// What the write transaction did with the event.
    private enum Written: Sendable {
        case stored(response: String, decision: Decision, context: PolicyContext, eventId: String, decisionId: String)
        case duplicate(eventId: String, sameBody: Bool, response: String)
    }

    /// A decision made on a context, and how long the policies took.
    private struct Decided: Sendable {
        let decision: Decision
        let context: PolicyContext
        let elapsed: Duration
    }

    func submit(_ event: Event, submittedBy: String) async throws -> Result {
        let receivedAt = Date()
        let encoded = CanonicalJSON.encode(event.envelope)
        let body = String(decoding: encoded, as: UTF8.self)
        let bodySHA256 = sha256Hex(encoded)
        let written = try await accounts.withLock(event.accountId) { () async throws -> Written in
            var attempt = 1
            while true {
                // One hop: the worker reads the context (a reader connection) and decides.
                let set = engine.activeSet
                let decided = try await workers.run(quarantined: set.isQuarantined(event.type)) { [database, engine, guardrails, reviews] in
                    Swift.Result {
                        let context = try database.writer.read { db in try AccountRows.context(db, accountId: event.accountId, now: receivedAt) }
                        let started = ContinuousClock.now
                        let decision = engine.decide(event, context: context, guardrails: guardrails, set: set)
                        return Decided(decision: reviews.applying(to: decision), context: context, elapsed: ContinuousClock.now - started)
                    }
                }.get()
                let last = attempt == Self.attempts
                await self.decided(event)
                // Nil: the account's context changed since the policies read it.
                let written = try await committer.submit { [engine, guardrails, reviews] db, chain -> Written? in
                    let current = try AccountRows.context(db, accountId: event.accountId, now: receivedAt)
                    var final = decided
                    if current != decided.context {
                        guard last else { return nil }
                        let started = ContinuousClock.now
                        let decision = reviews.applying(to: engine.decide(event, context: current, guardrails: guardrails))
                        final = Decided(decision: decision, context: current, elapsed: ContinuousClock.now - started)
                    }
                    return try Self.insert(db, chain: &chain, event: event, body: body, bodySHA256: bodySHA256,
                                           submittedBy: submittedBy, receivedAt: receivedAt, decided: final)
                }
                if let written { return written }
                metrics.decisionRetried()
                attempt += 1
            }
        }
        switch written {
        case .stored(let response, let decision, let context, let eventId, let decisionId):
            metrics.eventStored(type: event.type)
            metrics.decided(decision)
            if decision.outcome == .approve && !decision.actions.isEmpty { onQueued() }
            shadow.observe(event, context: context, decision: decision, eventId: eventId, decisionId: decisionId)
            return .decided(response)
        case .duplicate(let eventId, let sameBody, let response):
            return sameBody ? .replayed(response) : .conflict(eventId: eventId)
        }
    }

    /// The event's rows: event, decision, review item or outbox actions, audit entries.
    private static func insert(_ db: Database, chain: inout AuditChain, event: Event, body: String, bodySHA256: String,
                               submittedBy: String, receivedAt: Date, decided: Decided) throws -> Written {
        let decision = decided.decision, context = decided.context
        let decidedAt = Date()
        var record = DecisionRecord(
            eventId: Identifier.make(now: receivedAt), event: event, body: body, bodySHA256: bodySHA256,
            submittedBy: submittedBy, receivedAt: receivedAt, decisionId: Identifier.make(now: decidedAt), decision: decision,
            actionIds: decision.actions.map { _ in Identifier.make(now: decidedAt) },
            reviewId: decision.outcome == .review ? Identifier.make(now: decidedAt) : nil, context: context,
            decidedAt: decidedAt, durationMicros: decided.elapsed.microseconds,
            accountUpdate: event.type.kind == .signal ? context.account.applying(event) : nil, response: "")
        record.response = DecisionResponse.encode(record)
        // A resubmission is found by the insert itself (the unique index on source + id):
        // no lookup on the common path; the rare duplicate was decided for nothing.
        switch try Decisions.insert(db, record, chain: &chain) {
        case .stored:
            return .stored(response: record.response, decision: decision, context: context, eventId: record.eventId,
                           decisionId: record.decisionId)
        case .duplicate(let eventId, let sameBody, let response):
            return .duplicate(eventId: eventId, sameBody: sameBody, response: response)
        }
    }
}

/// What `POST /v1/events` returns, and what a resubmission replays.
public enum DecisionResponse {
    public static func encode(_ record: DecisionRecord) -> String {
        let decision = record.decision
        func json(_ value: JSONValue) -> [UInt8] { CanonicalJSON.encode(value) }
        var fields: [(key: String, json: [UInt8])] = [
            ("id", json(.string(record.decisionId))), ("outcome", json(.string(decision.outcome.rawValue))),
            ("queue", json(decision.queue.map(JSONValue.string) ?? .null)),
            ("reasons", record.encodedReasons), ("actions", record.encodedActions),
            ("review_id", json(record.reviewId.map(JSONValue.string) ?? .null)),
            ("policies", record.encodedPolicies), ("decided_at", json(.string(record.decidedAtText))),
        ]
        if decision.outcome == .review {
            fields.append(("approvals_required", json(.int(Int64(max(1, decision.approvalsRequired))))))
            fields.append(("sla_due_at", json(record.slaDueText.map(JSONValue.string) ?? .null)))
        }
        let body = CanonicalJSON.object([("event_id", json(.string(record.eventId))), ("decision", CanonicalJSON.object(fields))])
        return String(decoding: body, as: UTF8.self)
    }
}

