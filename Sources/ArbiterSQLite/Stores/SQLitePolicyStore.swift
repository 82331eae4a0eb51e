import ArbiterApp
import ArbiterCore
import Foundation
import GRDB

/// Policy versions, shadow runs and backtests in SQLite.
public struct SQLitePolicyStore: PolicyStore {
    let database: AppDatabase

    public init(database: AppDatabase) {
        self.database = database
    }

    public func publish(name: String, version: String, file: String, source: String, tests: JSONValue?, by actor: String,
                        now: Date) async throws -> Bool {
        try await database.writer.write { db in
            try PolicyVersions.publish(db, name: name, version: version, file: file, source: source, tests: tests, by: actor, at: now)
        }
    }

    public func publishAndActivate(_ versions: [NewPolicyVersion], by actor: String, now: Date) async throws {
        try await database.writer.write { db in
            for new in versions {
                try PolicyVersions.publish(db, name: new.name, version: new.version, file: new.file, source: new.source, tests: new.tests,
                                           by: actor, at: now)
                try PolicyVersions.activate(db, name: new.name, version: new.version, by: actor, at: now)
            }
        }
    }

    public func change<T: Sendable>(_ change: PolicyChange, of name: String, by actor: String, now: Date,
                                    compile: @escaping @Sendable (LiveSources) throws -> T) async throws -> (PolicyChangeOutcome, T) {
        try await database.writer.write { db in
            let outcome = try Self.apply(db, change, of: name, by: actor, now: now)
            return (outcome, try compile(try Self.liveSources(db)))
        }
    }

    static func apply(_ db: Database, _ change: PolicyChange, of name: String, by actor: String, now: Date) throws -> PolicyChangeOutcome {
        switch change {
        case .activate(let version):
            let previous = try PolicyVersions.activate(db, name: name, version: version, by: actor, at: now)
            return PolicyChangeOutcome(version: version, previousVersion: previous)
        case .rollback:
            let previous = try PolicyVersions.activeVersion(db, name: name)
            return PolicyChangeOutcome(version: try PolicyVersions.rollback(db, name: name, by: actor, at: now), previousVersion: previous)
        case .deactivate:
            return PolicyChangeOutcome(version: try PolicyVersions.deactivate(db, name: name, by: actor, at: now))
        case .proposeActivation(let version):
            try PolicyVersions.propose(db, name: name, version: version, by: actor, at: now)
            return PolicyChangeOutcome(version: version)
        case .proposeRollback:
            return PolicyChangeOutcome(version: try PolicyVersions.proposeRollback(db, name: name, by: actor, at: now))
        case .proposeDeactivation:
            return PolicyChangeOutcome(version: try PolicyVersions.proposeDeactivation(db, name: name, by: actor, at: now))
        case .approve(let version):
            let (approved, previous) = try PolicyVersions.approve(db, name: name, version: version, by: actor, at: now)
            return PolicyChangeOutcome(version: version, previousVersion: previous, approved: approved)
        case .shadow(let version, let eventTypes):
            let run = try PolicyVersions.shadow(db, name: name, version: version, eventTypes: eventTypes, by: actor, at: now)
            return PolicyChangeOutcome(version: version, shadowRun: run)
        case .stopShadow:
            return PolicyChangeOutcome(version: try PolicyVersions.stopShadow(db, name: name, by: actor, at: now))
        }
    }

    static func liveSources(_ db: Database) throws -> LiveSources {
        LiveSources(active: try PolicyVersions.activeSources(db), shadows: try PolicyVersions.shadowSources(db))
    }

    public func liveSources() async throws -> LiveSources {
        try await database.writer.read { db in try Self.liveSources(db) }
    }

    public func source(name: String, version: String) async throws -> StoredPolicySource? {
        try await database.writer.read { db in try PolicyVersions.source(db, name: name, version: version) }
    }

    public func activeVersion(name: String) async throws -> String? {
        try await database.writer.read { db in try PolicyVersions.activeVersion(db, name: name) }
    }

    public func policies() async throws -> [PolicySummary] {
        try await database.writer.read { db in try PolicyVersions.list(db) }
    }

    public func versions(name: String) async throws -> [PolicyVersionSummary]? {
        try await database.writer.read { db in try PolicyVersions.versions(db, name: name) }
    }

    public func version(name: String, version: String) async throws -> PolicyVersionDetail? {
        try await database.writer.read { db in try PolicyVersions.version(db, name: name, version: version) }
    }

    public func shadowReport(name: String, version: String?, limit: Int, before: Int64?, now: Date) async throws -> ShadowReport? {
        try await database.writer.read { db in try ShadowRuns.report(db, name: name, version: version, limit: limit, before: before, now: now) }
    }

    // MARK: Backtests

    public func replayCount(types: [String], range: BacktestRange) async throws -> Int {
        try await database.writer.read { db in try Backtests.count(db, types: types, from: range.from, to: range.to, limit: range.limit) }
    }

    public func replay(types: [String], range: BacktestRange, chunkSize: Int,
                       _ body: @escaping @Sendable (ReplayChunk) throws -> Void) async throws {
        try await database.writer.read { db in
            try Backtests.replay(db, types: types, from: range.from, to: range.to, limit: range.limit, chunkSize: chunkSize, body)
        }
    }

    public func replayDetails(rows: [(event: Int64, decision: Int64)]) async throws -> [Int64: ReplayedDetails] {
        let rows = rows.map { [$0.event, $0.decision] }
        return try await database.writer.read { db in try Backtests.details(db, rows: rows.map { ($0[0], $0[1]) }) }
    }

    public func eventId(row: Int64) async throws -> String? {
        try await database.writer.read { db in try String.fetchOne(db, sql: "SELECT id FROM events WHERE rowid = ?", arguments: [row]) }
    }

    public func startBacktest(id: String, name: String, version: String, range: BacktestRange, total: Int, by actor: String,
                              now: Date) async throws {
        try await database.writer.write { db in
            try Backtests.start(db, id: id, name: name, version: version, from: range.from, to: range.to, limit: range.limit,
                                total: total, by: actor, at: now)
        }
    }

    public func finishBacktest(id: String, report: JSONValue, now: Date) async throws {
        try await database.writer.write { db in try Backtests.finish(db, id: id, report: report, at: now) }
    }

    public func failBacktest(id: String, error: String, now: Date) async throws {
        try await database.writer.write { db in try Backtests.fail(db, id: id, error: error, at: now) }
    }

    public func interruptRunningBacktests(now: Date) async throws {
        try await database.writer.write { db in try Backtests.interruptRunning(db, at: now) }
    }

    public func backtest(name: String, id: String) async throws -> BacktestJob? {
        try await database.writer.read { db in try Backtests.job(db, name: name, id: id) }
    }
}
