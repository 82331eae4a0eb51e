import ArbiterCore
import ArbiterPolicy
import Foundation
import Logging

/// Shadow mode: versions evaluated beside the active set on every live event, never deciding.
///
/// A shadow version runs after the live decision is committed and the response is on its way,
/// queued in the ``BackgroundWork`` (bounded: when full the oldest evaluation is dropped and
/// counted) and evaluated on the policy workers: however slow or broken it is, the outcome, the
/// response and its latency are the live set's alone. Where its decision would differ (outcome, queue or
/// actions), the difference is recorded (``ShadowStore``). A crash between the
/// decision's commit and the difference's can lose that difference — shadow reports are an
/// observation, not a record of the decision (the decision itself is never lost).
public final class ShadowMode: Sendable {
    public struct Candidate: Sendable {
        /// The shadow run (policy_shadows.id) differences are recorded under.
        public let run: Int64
        public let policy: CompiledPolicy
        /// A set of this one version, for the engine's pooled states.
        public let set: PolicySet

        public init(run: Int64, policy: CompiledPolicy, set: PolicySet) {
            self.run = run
            self.policy = policy
            self.set = set
        }
    }

    let engine: PolicyEngine
    let workers: PolicyWorkers
    let guardrails: Guardrails
    let store: any ShadowStore
    let metrics: ServiceMetrics
    let background: BackgroundWork
    private let candidates = Locked<[Candidate]>([])
    private let logger = Logger(label: "arbiter.shadow")

    public init(engine: PolicyEngine, workers: PolicyWorkers, guardrails: Guardrails, store: any ShadowStore, metrics: ServiceMetrics,
                background: BackgroundWork) {
        self.background = background
        self.engine = engine
        self.workers = workers
        self.guardrails = guardrails
        self.store = store
        self.metrics = metrics
    }

    /// Swaps in the versions now in shadow (after the engine has their sets).
    public func replace(_ candidates: [Candidate]) {
        self.candidates.withLock { $0 = candidates }
    }

    /// Evaluates every shadow version concerned by this live decision, in the background.
    func observe(_ event: Event, context: PolicyContext, decision: Decision, eventId: String, decisionId: String) {
        let concerned = candidates.withLock { $0 }.filter { candidate in
            !candidate.set.indexes(for: event.type).isEmpty || decision.policies.contains { $0.name == candidate.policy.name }
        }
        guard !concerned.isEmpty else { return }
        background.evaluateInShadow { [self] in
            for candidate in concerned {
                await compare(candidate, event: event, context: context, decision: decision, eventId: eventId, decisionId: decisionId)
            }
        }
    }

    private func compare(_ candidate: Candidate, event: Event, context: PolicyContext, decision: Decision,
                         eventId: String, decisionId: String) async {
        let name = candidate.policy.name
        // On the policy workers like a live decision (the quarantine lane once it misbehaves),
        // counting towards the version's own breaker.
        guard let verdicts = try? await workers.run(quarantined: candidate.set.isQuarantined(event.type), { [engine] in
            engine.evaluate(event, context: context, set: candidate.set)
        }) else { return }
        let shadow = CandidateDecision.decide(policy: name, candidate: verdicts, actual: decision.policies, eventType: event.type,
                                              accountCurrency: context.account.currency, guardrails: guardrails)
        let difference = DecisionDifference(before: (decision.outcome, decision.queue, decision.actions), after: shadow)
        metrics.shadowEvaluated(policy: name, difference: difference)
        guard difference.changed else { return }
        let record = ShadowDifference(
            run: candidate.run, eventId: eventId, decisionId: decisionId, transition: difference.transition,
            outcomeChanged: difference.outcomeChanged, actual: decision.compared(verdicts: decision.policies.filter { $0.name == name }),
            shadow: shadow.compared(verdicts: verdicts), at: Date())
        do {
            try await store.record(record)
        } catch is ShuttingDown {
            metrics.shadowDropped()   // the writes stopped before the background work did
        } catch {
            logger.error("could not record a shadow difference", metadata: ["policy": "\(name)", "event_id": "\(eventId)", "error": "\(error)"])
        }
    }
}

extension Decision {
    /// The decision as shadow reports and backtest samples show it, with the policy's own
    /// verdict: `{"outcome", "queue", "reasons", "actions", "verdict"}`.
    public func compared(verdicts: [PolicyResult]) -> JSONValue {
        .object([
            "outcome": .string(outcome.rawValue), "queue": queue.map(JSONValue.string) ?? .null,
            "reasons": .array(reasons.map(JSONValue.string)), "actions": .array(actions.map(\.json)),
            "verdict": verdicts.first?.json ?? .null,
        ])
    }
}
