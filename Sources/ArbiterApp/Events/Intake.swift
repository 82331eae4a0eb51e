import ArbiterCore
import ArbiterPolicy
import Foundation

/// The decision pipeline for one event: context → policies → combine → one durable write.
///
/// Policies run outside the write transaction, on the policy workers (``PolicyWorkers``): a
/// policy that spends its whole time limit costs its own event that time, never the writes of
/// the rest of the service. Decisions for one account are still made one at a time, each
/// seeing every earlier one, so a cumulative cap cannot be raced past:
/// - one decision per account is in flight (``DecisionStore/serializing(account:_:)``) from
///   reading the context to the commit;
/// - inside the unit of work that stores it the context is read again and must equal the one
///   the policies saw — a review, an account sync or a delivery may have changed it meanwhile.
///   Then the event is decided again on the new context; after `attempts` tries the last one
///   is decided inside the transaction, so every event is decided (a breaker stops a policy
///   that keeps hitting its limits, see ``PolicyHealth``).
/// The rows of all events in flight share a group commit.
public final class Intake: Sendable {
    let engine: PolicyEngine
    let workers: PolicyWorkers
    let store: any DecisionStore
    let guardrails: Guardrails
    /// Queue rules applied to review decisions (default SLA, two approvals over a threshold).
    let reviews: ReviewSettings
    /// Which target each approved action is queued for.
    let routing: ActionRouting
    let metrics: ServiceMetrics
    /// Called after a commit that queued actions for the ERP.
    let onQueued: @Sendable () -> Void
    /// Versions evaluated beside the live set after each decision is committed.
    let shadow: ShadowMode
    static let attempts = 3
    /// Runs after the policies decided an event and before its write is submitted: where tests
    /// change the account in between, to see the decision made again.
    let decided: @Sendable (Event) async -> Void

    public init(engine: PolicyEngine, workers: PolicyWorkers, store: any DecisionStore, guardrails: Guardrails,
                reviews: ReviewSettings, metrics: ServiceMetrics, shadow: ShadowMode, routing: ActionRouting = .single,
                onQueued: @escaping @Sendable () -> Void = {}, decided: @escaping @Sendable (Event) async -> Void = { _ in }) {
        self.routing = routing
        self.onQueued = onQueued
        self.decided = decided
        self.shadow = shadow
        self.engine = engine
        self.workers = workers
        self.store = store
        self.guardrails = guardrails
        self.reviews = reviews
        self.metrics = metrics
    }

    public enum Result: Sendable {
        /// Decided and stored now: the response body.
        case decided(String)
        /// Already decided earlier with the same body: the original response body.
        case replayed(String)
        /// Already decided earlier with a different body.
        case conflict(eventId: String)
    }

    /// A decision made on a context, and how long the policies took.
    private struct Decided: Sendable {
        let decision: Decision
        let context: PolicyContext
        let elapsed: Duration
    }

    /// Decides the event and stores it with its decision; answers once that is durable.
    /// `inbound`, when given, makes the message its event came from (``DecisionRecord/inbound``),
    /// stored with the decision when `.decided` is returned; `answer` the answer to its
    /// requester (``DecisionRecord/answer``).
    public func submit(_ event: Event, submittedBy: String,
                       inbound: (@Sendable (DecisionRecord) -> InboundMessage)? = nil,
                       answer: (@Sendable (DecisionRecord) -> RequesterAnswer?)? = nil) async throws -> Result {
        let receivedAt = Date()
        let encoded = CanonicalJSON.encode(event.envelope)
        let body = String(decoding: encoded, as: UTF8.self)
        let bodySHA256 = sha256Hex(encoded)
        let result = try await store.serializing(account: event.accountId) { () async throws -> Result in
            var attempt = 1
            while true {
                // The store reads the context and the workers decide (in one hop where it can).
                let set = engine.activeSet
                let decided = try await store.evaluate(account: event.accountId, now: receivedAt, workers: workers,
                                                       quarantined: set.isQuarantined(event.type)) { [engine, guardrails, reviews] context in
                    let started = ContinuousClock.now
                    let decision = engine.decide(event, context: context, guardrails: guardrails, set: set)
                    return Decided(decision: reviews.applying(to: decision), context: context, elapsed: ContinuousClock.now - started)
                }
                let last = attempt == Self.attempts
                await self.decided(event)
                let outcome = try await store.record(account: event.accountId, now: receivedAt) { [engine, guardrails, reviews, routing] current in
                    var final = decided
                    if current != decided.context {
                        // The account changed since the policies read it: decide again (here, on
                        // the last attempt, so every event is decided).
                        guard last else { return nil }
                        let started = ContinuousClock.now
                        let decision = reviews.applying(to: engine.decide(event, context: current, guardrails: guardrails))
                        final = Decided(decision: decision, context: current, elapsed: ContinuousClock.now - started)
                    }
                    var record = Self.record(event: event, body: body, bodySHA256: bodySHA256, submittedBy: submittedBy,
                                             receivedAt: receivedAt, decided: final, routing: routing)
                    record.inbound = inbound?(record)
                    record.answer = answer?(record)
                    return record
                }
                switch outcome {
                case .stored(let record):
                    stored(record)
                    return .decided(record.response)
                case .duplicate(let eventId, let sameBody, let response):
                    return sameBody ? .replayed(response) : .conflict(eventId: eventId)
                case .stale:
                    metrics.decisionRetried()
                    attempt += 1
                }
            }
        }
        return result
    }

    /// After the commit: metrics, the dispatcher told of new actions, shadow versions run.
    private func stored(_ record: DecisionRecord) {
        let decision = record.decision
        metrics.eventStored(type: record.event.type)
        metrics.decided(decision)
        if decision.outcome == .approve && !decision.actions.isEmpty || record.answer != nil { onQueued() }
        shadow.observe(record.event, context: record.context, decision: decision, eventId: record.eventId, decisionId: record.decisionId)
    }

    /// What storing the event writes: ids, the response, the account change of a signal.
    private static func record(event: Event, body: String, bodySHA256: String, submittedBy: String, receivedAt: Date,
                               decided: Decided, routing: ActionRouting) -> DecisionRecord {
        let decision = decided.decision, context = decided.context
        let decidedAt = Date()
        var record = DecisionRecord(
            eventId: Identifier.make(now: receivedAt), event: event, body: body, bodySHA256: bodySHA256,
            submittedBy: submittedBy, receivedAt: receivedAt, decisionId: Identifier.make(now: decidedAt), decision: decision,
            actionIds: decision.actions.map { _ in Identifier.make(now: decidedAt) },
            reviewId: decision.outcome == .review ? Identifier.make(now: decidedAt) : nil, context: context,
            decidedAt: decidedAt, durationMicros: decided.elapsed.microseconds,
            accountUpdate: event.type.kind == .signal ? context.account.applying(event) : nil, response: "")
        record.actionTargets = decision.actions.map { routing.target(for: $0.type) }
        record.response = DecisionResponse.encode(record)
        return record
    }
}
