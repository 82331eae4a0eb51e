import ArbiterCore
import Foundation
import Glibc

/// Evaluates events against the active policies in a pool of warm, sandboxed Lua states.
///
/// Evaluation is synchronous and takes microseconds, so it runs on the caller's thread: no
/// hand-off between threads on the hot path. Each caller borrows a state from the pool (a new
/// one is built when all are busy, and kept afterwards), so the pool grows to the concurrency
/// actually seen, one state per core under the server's cooperative thread pool.
public final class PolicyEngine: Sendable {
    public let limits: PolicyLimits
    /// States built for a set when it is activated: one per core by default.
    public let warmStates: Int
    /// Limit errors in a row after which a policy's circuit breaker opens (0: never).
    public let breakerThreshold: Int
    private let config: [UInt8]
    private let state: Locked<PoolState>
    /// Health records by policy version (``PolicyHealth``), kept for the active and shadow sets.
    private let healthRecords = Locked<[String: PolicyHealth]>([:])
    private let breakerObservers = Locked<[@Sendable (PolicyHealth, PolicyHealth.Opened) -> Void]>([])

    private struct PoolState {
        var active: PolicySet
        /// Candidates evaluated beside the active set on live events (shadow mode): each a set
        /// of one policy version.
        var shadows: [PolicySet] = []
        /// Idle states by set generation; only the active and shadow sets keep theirs.
        var idle: [UInt64: [PooledSandbox]] = [:]
        var nextGeneration: UInt64 = 1

        func keeps(_ generation: UInt64) -> Bool {
            generation == active.generation || shadows.contains { $0.generation == generation }
        }
    }

    /// A sandbox with a policy set loaded: slot i holds `set.policies[i]`.
    final class PooledSandbox: @unchecked Sendable {
        let sandbox: PolicySandbox
        let generation: UInt64
        let slots: [Int32]
        /// Encoding buffers reused by every evaluation on this state.
        let eventStorage = EncodeStorage()
        let contextStorage = EncodeStorage(capacity: 512)

        init(sandbox: PolicySandbox, generation: UInt64, slots: [Int32]) {
            self.sandbox = sandbox
            self.generation = generation
            self.slots = slots
        }
    }

    /// - Parameters:
    ///   - limits: per-evaluation limits.
    ///   - config: the object policies see as `ctx.config` (read-only).
    ///   - warmStates: states built with each activated set, so evaluations find one ready.
    ///   - breakerThreshold: limit errors in a row that open a policy's circuit breaker (0: never).
    public init(limits: PolicyLimits = PolicyLimits(), config: [String: JSONValue] = [:],
                warmStates: Int = ProcessInfo.processInfo.activeProcessorCount, breakerThreshold: Int = 0) {
        self.limits = limits
        self.warmStates = max(0, warmStates)
        self.breakerThreshold = max(0, breakerThreshold)
        let storage = EncodeStorage()
        var writer = ValueWriter(storage)
        writer.write(.object(config))
        self.config = Array(writer.bytes)
        storage.adopt(writer)
        self.state = Locked(PoolState(active: PolicySet(policies: [], generation: 0, health: { _ in PolicyHealth(name: "", version: "") })))
    }

    /// The set new evaluations use.
    public var activeSet: PolicySet { state.withLock { $0.active } }

    /// Compiles sources into a set (each in the sandbox, running its chunk once). Does not
    /// activate it. Throws the first policy that does not load, or a duplicate name.
    public func compile(_ sources: [PolicySource]) throws -> PolicySet {
        guard let sandbox = PolicySandbox(limits: limits, config: config) else {
            throw PolicyLoadError(file: "", message: "could not create a Lua state")
        }
        var compiled: [CompiledPolicy] = []
        var seen: [String: String] = [:]
        for source in sources {
            switch sandbox.load(file: source.file, source: source.source) {
            case .failure(let error):
                throw error
            case .success(let loaded):
                if let other = seen[loaded.header.name] {
                    throw PolicyLoadError(file: source.file, message: "\(source.file): policy name '\(loaded.header.name)' is already used by \(other)")
                }
                seen[loaded.header.name] = source.file
                compiled.append(CompiledPolicy(source: source, header: loaded.header))
            }
        }
        return set(of: compiled)
    }

    /// A set of already compiled policies, with a generation of its own: pooled states are
    /// matched to sets by generation, so two sets must never share one.
    public func set(of policies: [CompiledPolicy]) -> PolicySet {
        let generation = state.withLock { s in
            defer { s.nextGeneration += 1 }
            return s.nextGeneration
        }
        return PolicySet(policies: policies, generation: generation, health: health(for:))
    }

    /// The health record of a policy version (one per version, whichever sets hold it).
    private func health(for policy: CompiledPolicy) -> PolicyHealth {
        healthRecords.withLock { records in
            let key = policy.name + "\u{0}" + policy.version
            if let existing = records[key] { return existing }
            let created = PolicyHealth(name: policy.name, version: policy.version)
            records[key] = created
            return created
        }
    }

    /// Called (on the evaluating thread) when a policy's circuit breaker opens.
    public func onBreakerOpened(_ observer: @escaping @Sendable (PolicyHealth, PolicyHealth.Opened) -> Void) {
        breakerObservers.withLock { $0.append(observer) }
    }

    /// The policies of the active and shadow sets whose breaker is open.
    public var openBreakers: [(health: PolicyHealth, opened: PolicyHealth.Opened)] {
        let (active, shadows) = state.withLock { ($0.active, $0.shadows) }
        var seen = Set<ObjectIdentifier>()
        return ([active] + shadows).flatMap(\.health).compactMap { health in
            guard seen.insert(ObjectIdentifier(health)).inserted, let opened = health.openedState else { return nil }
            return (health, opened)
        }
    }

    /// Closes the breakers of every version of `policy` in the active and shadow sets. Returns
    /// the versions whose breaker was open.
    public func resetBreaker(policy: String) -> [String] {
        let (active, shadows) = state.withLock { ($0.active, $0.shadows) }
        var versions: [String] = []
        for health in ([active] + shadows).flatMap(\.health) where health.name == policy && health.reset() {
            versions.append(health.version)
        }
        return versions
    }

    /// Makes `set` the one every evaluation that starts from now on uses, and `shadows` the
    /// candidates evaluated beside it (``shadowSets``). Evaluations in flight finish on the set
    /// they started with.
    public func activate(_ set: PolicySet, shadows: [PolicySet] = []) {
        // Build the warm states before the swap, outside the lock: evaluations keep running on
        // the previous set meanwhile, and find states ready for the new one right after.
        let warm = (0..<warmStates).compactMap { _ in build(set) }
        let previous = state.withLock { s -> Set<ObjectIdentifier> in
            let previous = Set(([s.active] + s.shadows).flatMap(\.health).map(ObjectIdentifier.init))
            s.active = set
            s.shadows = shadows
            s.idle = s.idle.filter { s.keeps($0.key) }
            s.idle[set.generation] = warm
            return previous
        }
        // A version that was not live before starts with a closed breaker; records of versions
        // no longer live are dropped.
        let live = ([set] + shadows).flatMap(\.health)
        for health in live where !previous.contains(ObjectIdentifier(health)) { health.reset() }
        let keys = Set(live.map { $0.name + "\u{0}" + $0.version })
        healthRecords.withLock { records in records = records.filter { keys.contains($0.key) } }
    }

    /// The shadow candidates: sets of one policy version each, evaluated beside the active set
    /// on live events without deciding anything.
    public var shadowSets: [PolicySet] { state.withLock { $0.shadows } }

    /// Every bound policy's verdict on the event, in priority order. Never throws: a failing
    /// policy yields review in `policy-errors`. A `live` evaluation (the active set, or a
    /// shadow version, on a live event) counts towards the policies' health and skips a
    /// policy whose breaker is open; a preview (simulate, tests) runs every policy as it is.
    public func evaluate(_ event: Event, context: PolicyContext, set: PolicySet? = nil, live: Bool = true) -> [PolicyResult] {
        let (set, reused) = checkout(set)
        let indexes = set.indexes(for: event.type)
        guard !indexes.isEmpty else {
            if let reused { checkin(reused) }
            return []
        }
        guard let pooled = reused ?? build(set) else {
            return indexes.map { Self.noState(set.policies[$0]) }
        }
        let (results, survivor) = run(set: set, indexes: indexes, pooled: pooled, event: event, context: context,
                                      health: live ? set.health : nil)
        if let survivor { checkin(survivor) }
        return results
    }

    /// Encodes the event and context once, into the state's own buffers, and runs the policies
    /// at `indexes` on them (see `run(set:indexes:pooled:event:context:)` for the bytes).
    func run(set: PolicySet, indexes: [Int], pooled: PooledSandbox, event: Event,
             context: PolicyContext, health: [PolicyHealth]? = nil) -> ([PolicyResult], PooledSandbox?) {
        var eventWriter = ValueWriter(pooled.eventStorage)
        eventWriter.write(event)
        var contextWriter = ValueWriter(pooled.contextStorage)
        contextWriter.write(context)
        defer {
            pooled.eventStorage.adopt(eventWriter)
            pooled.contextStorage.adopt(contextWriter)
        }
        return run(set: set, indexes: indexes, pooled: pooled, event: eventWriter.bytes, context: contextWriter.bytes, health: health)
    }

    /// Evaluates and combines: the decision the service makes for this event.
    public func decide(_ event: Event, context: PolicyContext, guardrails: Guardrails, set: PolicySet? = nil,
                       live: Bool = true) -> Decision {
        DecisionCombiner.combine(evaluate(event, context: context, set: set, live: live), eventType: event.type,
                                 accountCurrency: context.account.currency, guardrails: guardrails)
    }

    /// Runs the policies at `indexes` on one state. Returns the verdicts and the state to keep
    /// using: `first`, or a fresh one when a limit poisoned it (nil if none could be built).
    /// With `health` (a live evaluation), a policy whose breaker is open is not run, and each
    /// outcome is recorded.
    func run(set: PolicySet, indexes: [Int], pooled first: PooledSandbox, event: UnsafeRawBufferPointer,
             context: UnsafeRawBufferPointer, health: [PolicyHealth]? = nil) -> ([PolicyResult], PooledSandbox?) {
        var pooled: PooledSandbox? = first
        var results: [PolicyResult] = []
        results.reserveCapacity(indexes.count)
        for index in indexes {
            let policy = set.policies[index]
            if let health, health[index].isOpen {
                results.append(health[index].suspendedResult(file: policy.source.file))
                continue
            }
            guard let sandbox = pooled else {
                results.append(Self.noState(policy))
                continue
            }
            let started = monotonicNanos()
            let outcome = sandbox.sandbox.evaluate(slot: sandbox.slots[index], event: event, context: context, file: policy.source.file)
            let micros = (monotonicNanos() - started) / 1000
            if let health { record(outcome, micros: micros, in: health[index]) }
            switch outcome {
            case .decided(let verdict, let queue, let sla, let approvals, let reasons, let actionFields, let log):
                do {
                    var actions: [ProposedAction] = []
                    if verdict != .reject {
                        actions.reserveCapacity(actionFields.count)
                        for (i, fields) in actionFields.enumerated() { actions.append(try ProposedAction(fields: fields, index: i + 1)) }
                    }
                    results.append(PolicyResult(name: policy.name, version: policy.version, outcome: verdict,
                                                queue: verdict == .review ? (queue ?? Queue.defaultReview) : nil,
                                                reasons: reasons, actions: actions,
                                                slaSeconds: verdict == .review ? sla : nil,
                                                approvalsRequired: verdict == .review ? approvals : nil,
                                                durationMicros: micros, log: log))
                } catch {
                    results.append(.failure(name: policy.name, version: policy.version,
                                            error: "\(policy.source.file): malformed decision: \(error)", durationMicros: micros, log: log))
                }
            case .failed(let message, let poisoned, let log):
                results.append(.failure(name: policy.name, version: policy.version, error: message, durationMicros: micros, log: log))
                if poisoned {
                    // A state that hit a limit is discarded, so the next evaluation starts clean.
                    // (The encoded input stays valid: `first` owns it until the caller is done.)
                    pooled = build(set)
                }
            }
        }
        return (results, pooled)
    }

    /// Records a live evaluation's outcome in its policy's health; tells the observers when it
    /// opened the breaker.
    private func record(_ outcome: SandboxOutcome, micros: Int64, in health: PolicyHealth) {
        if case .failed(let message, true, _) = outcome {
            guard let opened = health.hitLimit(message, threshold: breakerThreshold) else { return }
            for observer in breakerObservers.withLock({ $0 }) { observer(health, opened) }
        } else {
            health.ended(slow: micros * 2 > limits.timeLimitMillis * 1000)
        }
    }

    /// The verdict when no Lua state could be built for a policy: review, never approve.
    private static func noState(_ policy: CompiledPolicy) -> PolicyResult {
        .failure(name: policy.name, version: policy.version, error: "\(policy.source.file): no Lua state available (out of memory)")
    }

    /// The set to use (the active one unless given) and an idle state built for it, if any,
    /// in one trip through the lock.
    private func checkout(_ requested: PolicySet?) -> (PolicySet, PooledSandbox?) {
        state.withLock { s in
            let set = requested ?? s.active
            return (set, s.idle[set.generation]?.popLast())
        }
    }

    private func checkin(_ pooled: PooledSandbox) {
        state.withLock { s in
            if s.keeps(pooled.generation) { s.idle[pooled.generation, default: []].append(pooled) }
        }
    }

    /// An evaluator with a Lua state of its own for `set`, for one thread replaying many
    /// events (backtests): no trip through the pool's lock per event. Nil when no state could
    /// be built.
    public func evaluator(for set: PolicySet) -> PolicyEvaluator? {
        build(set).map { PolicyEvaluator(engine: self, set: set, pooled: $0) }
    }

    func build(_ set: PolicySet) -> PooledSandbox? {
        guard let sandbox = PolicySandbox(limits: limits, config: config) else { return nil }
        var slots: [Int32] = []
        for policy in set.policies {
            guard case .success(let loaded) = sandbox.load(file: policy.source.file, source: policy.source.source) else {
                return nil
            }
            slots.append(loaded.slot)
        }
        return PooledSandbox(sandbox: sandbox, generation: set.generation, slots: slots)
    }
}
