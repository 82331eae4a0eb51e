import ArbiterCore
import Foundation

/// Policy versions, shadow runs and backtests as the policy lifecycle needs them stored.
/// Versions are immutable, identified by the SHA-256 of their source; every change to their
/// status is in their history and in the audit trail.
public protocol PolicyStore: Sendable {
    /// Stores a version as a draft, audited; false (nothing written) when it exists already.
    func publish(name: String, version: String, file: String, source: String, tests: JSONValue?, by actor: String,
                 now: Date) async throws -> Bool

    /// Publishes (when new) and activates each version, as one unit of work: how the policies
    /// of a directory are adopted at start.
    func publishAndActivate(_ versions: [NewPolicyVersion], by actor: String, now: Date) async throws

    /// Makes one change to what decides live as a unit of work: the change, then `compile`
    /// with the sources now active and in shadow — a change whose live set does not compile
    /// is rolled back (nothing written). Refuses (not found, conflict, maker-checker).
    func change<T: Sendable>(_ change: PolicyChange, of name: String, by actor: String, now: Date,
                             compile: @escaping @Sendable (LiveSources) throws -> T) async throws -> (PolicyChangeOutcome, T)

    /// The sources active and in shadow now.
    func liveSources() async throws -> LiveSources

    func source(name: String, version: String) async throws -> StoredPolicySource?
    func activeVersion(name: String) async throws -> String?
    func policies() async throws -> [PolicySummary]
    /// A policy's versions, newest first; nil when the policy is unknown.
    func versions(name: String) async throws -> [PolicyVersionSummary]?
    func version(name: String, version: String) async throws -> PolicyVersionDetail?

    /// The report of the policy's latest shadow run (of `version`): counts by transition and
    /// the differences newest first, a page of them; nil when it never ran in shadow.
    func shadowReport(name: String, version: String?, limit: Int, before: Int64?, now: Date) async throws -> ShadowReport?

    // MARK: Backtests

    /// How many decided events of `types` were received in the range (at most its limit).
    func replayCount(types: [String], range: BacktestRange) async throws -> Int

    /// Streams the decided events of `types` received in the range, oldest first, from one
    /// consistent snapshot, `chunkSize` at a time. `body` may block (the workers are busy):
    /// the stream waits.
    func replay(types: [String], range: BacktestRange, chunkSize: Int,
                _ body: @escaping @Sendable (ReplayChunk) throws -> Void) async throws

    /// What a report shows of some replayed decisions, by their rows; and the id of an event
    /// by its row.
    func replayDetails(rows: [(event: Int64, decision: Int64)]) async throws -> [Int64: ReplayedDetails]
    func eventId(row: Int64) async throws -> String?

    func startBacktest(id: String, name: String, version: String, range: BacktestRange, total: Int, by actor: String,
                       now: Date) async throws
    func finishBacktest(id: String, report: JSONValue, now: Date) async throws
    func failBacktest(id: String, error: String, now: Date) async throws
    /// Jobs a previous process left running: they will not finish.
    func interruptRunningBacktests(now: Date) async throws
    /// A job as stored, with its report when done.
    func backtest(name: String, id: String) async throws -> BacktestJob?
}
