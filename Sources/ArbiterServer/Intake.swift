import ArbiterCore
import ArbiterPolicy
import ArbiterStore
import Foundation

/// The decision pipeline for one event: context → policies → combine → one durable write.
///
/// Per account, decisions are made one at a time (``KeyedLock``) from reading the context to
/// the commit of the rows, so cumulative caps hold under concurrency. Across accounts the work
/// runs in parallel and the rows of all in-flight decisions share commits (``GroupCommitter``).
final class Intake: Sendable {
    let database: AppDatabase
    let engine: PolicyEngine
    let guardrails: Guardrails
    let committer: GroupCommitter
    let metrics: ServiceMetrics
    private let accounts = KeyedLock()

    init(database: AppDatabase, engine: PolicyEngine, guardrails: Guardrails, committer: GroupCommitter, metrics: ServiceMetrics) {
        self.database = database
        self.engine = engine
        self.guardrails = guardrails
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

    func submit(_ event: Event, submittedBy: String) async throws -> Result {
        let receivedAt = Date()
        let body = CanonicalJSON.encode(event.envelope)
        let (write, response): (DecisionWrite, String) = try await accounts.withLock(event.accountId) {
            let context = try await database.writer.read { db in
                try Accounts.context(db, accountId: event.accountId, now: receivedAt)
            }
            let started = ContinuousClock.now
            let decision = engine.decide(event, context: context, guardrails: guardrails)
            let elapsed = ContinuousClock.now - started
            let decidedAt = Date()
            let eventId = Identifier.make(now: receivedAt)
            let decisionId = Identifier.make(now: decidedAt)
            var record = DecisionRecord(
                eventId: eventId, event: event, body: String(decoding: body, as: UTF8.self), bodySHA256: sha256Hex(body),
                submittedBy: submittedBy, receivedAt: receivedAt, decisionId: decisionId, decision: decision,
                actionIds: decision.actions.map { _ in Identifier.make(now: decidedAt) },
                reviewId: decision.outcome == .review ? Identifier.make(now: decidedAt) : nil, context: context,
                decidedAt: decidedAt, durationMicros: elapsed.microseconds,
                accountUpdate: event.type.kind == .signal ? context.account.applying(event) : nil, response: "")
            record.response = DecisionResponse.encode(record)
            let write = try await committer.submit(record)
            if write == .stored {
                metrics.eventStored(type: event.type)
                metrics.decided(decision)
            }
            return (write, record.response)
        }
        switch write {
        case .stored:
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
            ("policies", record.encodedPolicies), ("decided_at", json(.string(Timestamp.format(record.decidedAt)))),
        ]
        if decision.outcome == .review {
            fields.append(("approvals_required", json(.int(Int64(max(1, decision.approvalsRequired))))))
            fields.append(("sla_due_at", json(decision.slaSeconds.map {
                .string(Timestamp.format(record.decidedAt.addingTimeInterval(TimeInterval($0))))
            } ?? .null)))
        }
        let body = CanonicalJSON.object([("event_id", json(.string(record.eventId))), ("decision", CanonicalJSON.object(fields))])
        return String(decoding: body, as: UTF8.self)
    }
}

extension Duration {
    var microseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }
}
