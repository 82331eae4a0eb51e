import ArbiterApp
import ArbiterCore
import Foundation
import PostgresNIO

/// Policy versions, shadow runs and backtests in PostgreSQL. Every change holds the policies'
/// lock and moves the generation on (``PGPolicyVersions``).
struct PostgresPolicyStore: PolicyStore {
    let backend: PostgresBackend
    /// This instance, as backtest jobs name it.
    let instance: String

    func publish(name: String, version: String, file: String, source: String, tests: JSONValue?, by actor: String,
                 now: Date) async throws -> Bool {
        try await backend.transaction { unit in
            try await PGPolicyVersions.lock(unit)
            return try await PGPolicyVersions.publish(unit, name: name, version: version, file: file, source: source, tests: tests,
                                                      by: actor, at: now)
        }
    }

    func publishAndActivate(_ versions: [NewPolicyVersion], by actor: String, now: Date) async throws {
        try await backend.transaction { unit in
            try await PGPolicyVersions.lock(unit)
            for new in versions {
                try await PGPolicyVersions.publish(unit, name: new.name, version: new.version, file: new.file, source: new.source,
                                                   tests: new.tests, by: actor, at: now)
                try await PGPolicyVersions.activate(unit, name: new.name, version: new.version, by: actor, at: now)
            }
            try await PGPolicyVersions.bumpGeneration(unit)
        }
    }

    func change<T: Sendable>(_ change: PolicyChange, of name: String, by actor: String, now: Date,
                             compile: @escaping @Sendable (LiveSources) throws -> T) async throws -> (PolicyChangeOutcome, T) {
        try await backend.transaction { unit in
            try await PGPolicyVersions.lock(unit)
            var outcome = try await Self.apply(unit, change, of: name, by: actor, now: now)
            outcome.generation = try await PGPolicyVersions.bumpGeneration(unit)
            return (outcome, try compile(try await PGPolicyVersions.liveSources(unit)))
        }
    }

    static func apply(_ unit: WorkUnit, _ change: PolicyChange, of name: String, by actor: String, now: Date) async throws
        -> PolicyChangeOutcome {
        switch change {
        case .activate(let version):
            let previous = try await PGPolicyVersions.activate(unit, name: name, version: version, by: actor, at: now)
            return PolicyChangeOutcome(version: version, previousVersion: previous)
        case .rollback:
            let previous = try await PGPolicyVersions.activeVersion(unit, name: name)
            return PolicyChangeOutcome(version: try await PGPolicyVersions.rollback(unit, name: name, by: actor, at: now),
                                       previousVersion: previous)
        case .deactivate:
            return PolicyChangeOutcome(version: try await PGPolicyVersions.deactivate(unit, name: name, by: actor, at: now))
        case .proposeActivation(let version):
            try await PGPolicyVersions.propose(unit, name: name, version: version, by: actor, at: now)
            return PolicyChangeOutcome(version: version)
        case .proposeRollback:
            return PolicyChangeOutcome(version: try await PGPolicyVersions.proposeRollback(unit, name: name, by: actor, at: now))
        case .proposeDeactivation:
            return PolicyChangeOutcome(version: try await PGPolicyVersions.proposeDeactivation(unit, name: name, by: actor, at: now))
        case .approve(let version):
            let (approved, previous) = try await PGPolicyVersions.approve(unit, name: name, version: version, by: actor, at: now)
            return PolicyChangeOutcome(version: version, previousVersion: previous, approved: approved)
        case .shadow(let version, let eventTypes):
            let run = try await PGPolicyVersions.shadow(unit, name: name, version: version, eventTypes: eventTypes, by: actor, at: now)
            return PolicyChangeOutcome(version: version, shadowRun: run)
        case .stopShadow:
            return PolicyChangeOutcome(version: try await PGPolicyVersions.stopShadow(unit, name: name, by: actor, at: now))
        }
    }

    func liveSources() async throws -> LiveSources {
        try await backend.snapshot { unit in try await PGPolicyVersions.liveSources(unit) }
    }

    /// The sources live now and the generation they belong to, read together.
    func liveSourcesWithGeneration() async throws -> (generation: Int64, sources: LiveSources) {
        try await backend.snapshot { unit in
            (try await PGPolicyVersions.generation(unit), try await PGPolicyVersions.liveSources(unit))
        }
    }

    func generation() async throws -> Int64 {
        try await backend.read { unit in try await PGPolicyVersions.generation(unit) }
    }

    func source(name: String, version: String) async throws -> StoredPolicySource? {
        try await backend.read { unit in try await PGPolicyVersions.source(unit, name: name, version: version) }
    }

    func activeVersion(name: String) async throws -> String? {
        try await backend.read { unit in try await PGPolicyVersions.activeVersion(unit, name: name) }
    }

    func policies() async throws -> [PolicySummary] {
        try await backend.read { unit in try await PGPolicyVersions.list(unit) }
    }

    func versions(name: String) async throws -> [PolicyVersionSummary]? {
        try await backend.read { unit in try await PGPolicyVersions.versions(unit, name: name) }
    }

    func version(name: String, version: String) async throws -> PolicyVersionDetail? {
        try await backend.read { unit in try await PGPolicyVersions.version(unit, name: name, version: version) }
    }

    func shadowReport(name: String, version: String?, limit: Int, before: Int64?, now: Date) async throws -> ShadowReport? {
        try await backend.read { unit in
            try await PGShadowRuns.report(unit, name: name, version: version, limit: limit, before: before, now: now)
        }
    }

    // MARK: Backtests

    func replayCount(types: [String], range: BacktestRange) async throws -> Int {
        try await backend.read { unit in try await PGBacktests.count(unit, types: types, range: range) }
    }

    func replay(types: [String], range: BacktestRange, chunkSize: Int,
                _ body: @escaping @Sendable (ReplayChunk) throws -> Void) async throws {
        try await backend.snapshot { unit in
            try await PGBacktests.replay(unit, types: types, range: range, chunkSize: chunkSize, body)
        }
    }

    func replayDetails(rows: [(event: Int64, decision: Int64)]) async throws -> [Int64: ReplayedDetails] {
        let pairs = rows.map { [$0.event, $0.decision] }
        return try await backend.read { unit in try await PGBacktests.details(unit, rows: pairs.map { ($0[0], $0[1]) }) }
    }

    func eventId(row: Int64) async throws -> String? {
        try await backend.read { unit in try await unit.value("SELECT id FROM events WHERE row_id = \(row)", as: String.self) }
    }

    func startBacktest(id: String, name: String, version: String, range: BacktestRange, total: Int, by actor: String,
                       now: Date) async throws {
        let instance = instance
        try await backend.transaction { unit in
            try await PGBacktests.start(unit, id: id, name: name, version: version, range: range, total: total, by: actor,
                                        instance: instance, at: now)
        }
    }

    func finishBacktest(id: String, report: JSONValue, now: Date) async throws {
        try await backend.transaction { unit in
            try await unit.run("""
                UPDATE backtests SET status = 'done', report = \(CanonicalJSON.string(report)), finished_at = \(Timestamp.format(now))
                WHERE id = \(id)
                """)
        }
    }

    func failBacktest(id: String, error: String, now: Date) async throws {
        try await backend.transaction { unit in
            try await unit.run("""
                UPDATE backtests SET status = 'failed', error = \(error), finished_at = \(Timestamp.format(now)) WHERE id = \(id)
                """)
        }
    }

    /// Only this instance's jobs: another instance's running jobs are running.
    func interruptRunningBacktests(now: Date) async throws {
        let instance = instance
        try await backend.transaction { unit in
            try await unit.run("""
                UPDATE backtests SET status = 'interrupted', finished_at = \(Timestamp.format(now))
                WHERE status = 'running' AND instance = \(instance)
                """)
        }
    }

    func backtest(name: String, id: String) async throws -> BacktestJob? {
        try await backend.read { unit in try await PGBacktests.job(unit, name: name, id: id) }
    }
}
