import ArbiterCore
import ArbiterPolicy
import Foundation

/// Policy versions while the service runs: publish (compiled in the sandbox and tested before
/// it is stored), activate, roll back, deactivate. One change at a time: each writes the new
/// status, then rebuilds the engine's active set from the database and swaps it in, so every
/// evaluation that starts after the swap uses exactly the new set and evaluations in flight
/// finish on the one they started with.
///
/// Only the changes run in the actor's serial section. Publishing (compile and tests),
/// simulating and compiling a stored version are `nonisolated` and run their Lua on the policy
/// workers: a draft that spends its time limit on every test case never makes an activate,
/// a rollback or a deactivate wait.
public actor PolicyLifecycle {
    let store: any PolicyStore
    public let engine: PolicyEngine
    let workers: PolicyWorkers
    let guardrails: Guardrails
    /// Queue rules, applied to simulated decisions as to live ones.
    let reviews: ReviewSettings
    let shadow: ShadowMode
    public let backtests: BacktestJobs
    /// Where a breaker's reset is audited.
    let audit: any AuditStore

    public init(store: any PolicyStore, audit: any AuditStore, engine: PolicyEngine, workers: PolicyWorkers, guardrails: Guardrails,
                reviews: ReviewSettings, shadow: ShadowMode, backtestInlineEvents: Int, background: BackgroundWork) {
        self.store = store
        self.audit = audit
        self.engine = engine
        self.workers = workers
        self.guardrails = guardrails
        self.reviews = reviews
        self.shadow = shadow
        self.backtests = BacktestJobs(store: store, engine: engine, guardrails: guardrails, inlineEvents: backtestInlineEvents,
                                      background: background)
    }

    /// What the engine runs: the active set and the versions in shadow.
    struct LiveSets: Sendable {
        let active: PolicySet
        let shadows: [ShadowMode.Candidate]
    }

    /// Compiles the versions active and in shadow.
    static func compile(_ sources: LiveSources, engine: PolicyEngine) throws -> LiveSets {
        let active = try engine.compile(sources.active.map(\.policySource))
        let shadows = try sources.shadows.map { run, source in
            let set = try engine.compile([source.policySource])
            return ShadowMode.Candidate(run: run, policy: set.policies[0], set: set)
        }
        return LiveSets(active: active, shadows: shadows)
    }

    private func install(_ live: LiveSets) {
        engine.activate(live.active, shadows: live.shadows.map(\.set))
        shadow.replace(live.shadows)
    }

    /// Compiles the active and shadow versions stored in the database and makes them the
    /// engine's.
    @discardableResult
    public func reload() async throws -> PolicySet {
        let live = try Self.compile(try await store.liveSources(), engine: engine)
        install(live)
        return live.active
    }

    /// Publishes and activates, at start, the policies in `directory` that differ from the
    /// active versions (audited as done by `system:startup`), marks backtests a previous process
    /// left running as interrupted, then makes every active version stored the engine's set —
    /// so versions activated through the API survive restarts.
    public func start(directory: String?) async throws -> PolicySet {
        if let directory {
            let folder = PolicyDirectory(path: directory)
            let set = try engine.compile(try folder.sources())
            let versions = try set.policies.map { policy in
                NewPolicyVersion(name: policy.name, version: policy.version, file: policy.source.file, source: policy.source.source,
                                 tests: try folder.testFile(for: policy.name).map { try JSONValue.parse(Data(contentsOf: $0)) })
            }
            try await store.publishAndActivate(versions, by: "system:startup", now: Date())
        }
        try await store.interruptRunningBacktests(now: Date())
        return try await reload()
    }

    public struct Published: Sendable {
        public let created: Bool
        public let name: String
        public let version: String
    }

    /// Compiles `source`, runs `tests` (`{"cases": [...]}`, the format of Policies/tests), and
    /// stores the version as a draft. Refusals name the compile error or every failing case.
    public nonisolated func publish(source: String, tests: JSONValue?, by actor: String, file: String? = nil) async throws -> Published {
        let engine = engine
        let compiled: CompiledPolicy
        do {
            compiled = try await workers.run {
                Result { try engine.compile([PolicySource(file: "policy.lua", source: source)]).policies[0] }
            }.get()
        } catch let error as PolicyLoadError {
            throw Refusal.invalid([FieldError("source", error.message)], title: "Policy does not compile", message: error.message)
        }
        if let tests {
            let cases: [PolicyTestCase]
            do {
                cases = try PolicyTestCase.parse(tests, file: "tests")
            } catch {
                throw Refusal.invalid([FieldError("tests", "\(error)")], title: "Invalid tests", message: "\(error)")
            }
            let runner = PolicyTestRunner(engine: engine, guardrails: guardrails)
            let failures = try await workers.run { runner.run(policy: compiled, cases: cases) }
            if !failures.isEmpty {
                throw Refusal.invalid(failures.map { FieldError("tests.\($0.caseName)", "expected \($0.expected); got \($0.actual)") },
                                      title: "Policy tests fail", message: "\(failures.count) of \(cases.count) test cases fail; nothing was stored")
            }
        }
        let name = compiled.name
        let version = compiled.version
        let created = try await store.publish(name: name, version: version, file: file ?? "\(name).lua", source: source, tests: tests,
                                              by: actor, now: Date())
        return Published(created: created, name: name, version: version)
    }

    /// Makes a change to what decides live and swaps the new active set (and shadow versions)
    /// in. They are compiled inside the change's unit of work, so a change whose set would not
    /// compile is rolled back and nothing is swapped.
    @discardableResult
    public func change(_ change: PolicyChange, of name: String, by actor: String) async throws -> PolicyChangeOutcome {
        let engine = engine
        let (outcome, live) = try await store.change(change, of: name, by: actor, now: Date()) { sources in
            try Self.compile(sources, engine: engine)
        }
        install(live)
        if let made = outcome.generation { generation = made }
        return outcome
    }

    /// The generation of what decides live that is installed here (stores other instances
    /// share number every change; nil until first seen).
    private var generation: Int64?

    /// Loads what decides live again when `current` (the store's generation now) is not the one
    /// installed here: another instance changed it. Returns whether it did.
    @discardableResult
    public func reloadIfChanged(generation current: Int64) async throws -> Bool {
        guard let installed = generation else {
            generation = current   // the first look: start() has just loaded the store's sources
            return false
        }
        guard current != installed else { return false }
        try await reload()
        generation = current
        return true
    }

    /// Closes the policy's circuit breakers (its events are evaluated again), audited as
    /// `policy.breaker_reset`. Refuses (conflict) when none is open.
    public nonisolated func resetBreaker(policy name: String, by actor: String) async throws -> [String] {
        let versions = engine.resetBreaker(policy: name)
        guard !versions.isEmpty else { throw Refusal.conflict("policy \(name) has no open circuit breaker") }
        try await audit.append(AuditDraft(actor: actor, kind: "policy.breaker_reset", subject: name, correlationId: nil,
                                          at: Timestamp.format(Date()),
                                          dataJSON: CanonicalJSON.encode(.object(["versions": .array(versions.map(JSONValue.string))]))))
        return versions
    }

    /// A stored version compiled on its own (not found when unknown).
    public nonisolated func compiled(name: String, version: String) async throws -> CompiledPolicy {
        guard let source = try await store.source(name: name, version: version) else {
            throw Refusal.notFound("policy \(name) has no version \(version)")
        }
        let engine = engine
        return try await workers.run { Result { try engine.compile([source.policySource]).policies[0] } }.get()
    }

    /// One published test case of a version, run now.
    public struct TestResult: Sendable {
        public let name: String
        /// Nil when it passes; else what was expected and what came.
        public let failure: String?
    }

    /// Runs the tests a version was published with (none: an empty list).
    public nonisolated func testResults(name: String, version: String) async throws -> [TestResult] {
        let detail = try await self.version(name: name, version: version)
        guard let tests = detail.tests else { return [] }
        let cases = try PolicyTestCase.parse(tests, file: "tests")
        let compiled = try await compiled(name: name, version: version)
        let runner = PolicyTestRunner(engine: engine, guardrails: guardrails)
        let failures = try await workers.run { runner.run(policy: compiled, cases: cases) }
        return cases.map { testCase in
            TestResult(name: testCase.name, failure: failures.first { $0.caseName == testCase.name }.map { "expected \($0.expected); got \($0.actual)" })
        }
    }

    /// Decides one event as the service would — against the active set, or with some policies
    /// at other stored versions — with every policy's reasons and log. Stores nothing.
    public nonisolated func simulate(_ event: Event, context: PolicyContext, versions: [String: String]) async throws -> (Decision, [String: String]) {
        let active = engine.activeSet
        var policies = active.policies
        for (name, version) in versions.sorted(by: { $0.key < $1.key }) {
            let candidate = try await compiled(name: name, version: version)
            policies.removeAll { $0.name == name }
            policies.append(candidate)
        }
        let set = versions.isEmpty ? active : engine.set(of: policies)
        let decision = reviews.applying(to: try await workers.decide(event, context: context, guardrails: guardrails, engine: engine,
                                                                     set: set, live: false))
        var used: [String: String] = [:]
        for policy in set.policies { used[policy.name] = policy.version }
        return (decision, used)
    }

    // MARK: Reading

    public nonisolated func policies() async throws -> [PolicySummary] { try await store.policies() }

    public nonisolated func versions(name: String) async throws -> [PolicyVersionSummary] {
        guard let versions = try await store.versions(name: name) else { throw Refusal.notFound("no policy named '\(name)'") }
        return versions
    }

    public nonisolated func version(name: String, version: String) async throws -> PolicyVersionDetail {
        guard let stored = try await store.version(name: name, version: version) else {
            throw Refusal.notFound("policy \(name) has no version \(version)")
        }
        return stored
    }

    public nonisolated func activeVersion(name: String) async throws -> String? { try await store.activeVersion(name: name) }

    public nonisolated func shadowReport(name: String, version: String?, limit: Int, before: Int64?) async throws -> ShadowReport {
        guard let report = try await store.shadowReport(name: name, version: version, limit: limit, before: before, now: Date()) else {
            throw Refusal.notFound("policy \(name) has not run \(version.map { "version \($0) " } ?? "")in shadow")
        }
        return report
    }
}
