import ArbiterCore
import ArbiterPolicy
import ArbiterStore
import Foundation

/// The decision pipeline for one event: context → policies → combine → one durable write.
///
/// The request's own task validates and encodes; reading the context, deciding and writing
/// the rows run as one piece of work inside the group commit's write transaction
/// (``GroupCommitter``). So decisions are made one at a time, each seeing every earlier
/// decision — for any account, a cumulative cap cannot be raced past — and they read the
/// writer's warm page cache instead of taking a reader connection and a thread hop each.
/// The work for one event is tens of microseconds; the rows of all events in flight share a
/// commit.
final class Intake: Sendable {
    let engine: PolicyEngine
    let guardrails: Guardrails
    /// Queue rules applied to review decisions (default SLA, two approvals over a threshold).
    let reviews: ReviewSettings
    let committer: GroupCommitter
    let metrics: ServiceMetrics
    /// Called after a commit that queued actions for the ERP.
    let onQueued: @Sendable () -> Void
    /// Versions evaluated beside the live set after each decision is committed.
    let shadow: ShadowMode

    init(engine: PolicyEngine, guardrails: Guardrails, reviews: ReviewSettings, committer: GroupCommitter, metrics: ServiceMetrics,
         shadow: ShadowMode, onQueued: @escaping @Sendable () -> Void = {}) {
        self.onQueued = onQueued
        self.shadow = shadow
        self.engine = engine
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

    func submit(_ event: Event, submittedBy: String) async throws -> Result {
        let receivedAt = Date()
        let encoded = CanonicalJSON.encode(event.envelope)
        let body = String(decoding: encoded, as: UTF8.self)
        let bodySHA256 = sha256Hex(encoded)
        let written = try await committer.submit { [engine, guardrails, reviews] db, chain -> Written in
            let context = try Accounts.context(db, accountId: event.accountId, now: receivedAt)
            let started = ContinuousClock.now
            let decision = reviews.applying(to: engine.decide(event, context: context, guardrails: guardrails))
            let elapsed = ContinuousClock.now - started
            let decidedAt = Date()
            var record = DecisionRecord(
                eventId: Identifier.make(now: receivedAt), event: event, body: body, bodySHA256: bodySHA256,
                submittedBy: submittedBy, receivedAt: receivedAt, decisionId: Identifier.make(now: decidedAt), decision: decision,
                actionIds: decision.actions.map { _ in Identifier.make(now: decidedAt) },
                reviewId: decision.outcome == .review ? Identifier.make(now: decidedAt) : nil, context: context,
                decidedAt: decidedAt, durationMicros: elapsed.microseconds,
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

