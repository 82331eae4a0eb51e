import ArbiterApp
import ArbiterCore
import ArbiterPolicy
import Foundation
import GRDB

/// Events and decisions in SQLite. One process owns the file, so serialising an account's
/// decisions in memory is enough; the records go through the group committer, several
/// decisions per durable commit.
public struct SQLiteDecisionStore: DecisionStore {
    let database: AppDatabase
    let committer: GroupCommitter
    private let accounts = KeyedLock()

    public init(database: AppDatabase, committer: GroupCommitter) {
        self.database = database
        self.committer = committer
    }

    public func serializing<T: Sendable>(account accountId: String, _ body: () async throws -> T) async throws -> T {
        try await accounts.withLock(accountId, body)
    }

    /// One hop: the worker thread reads the context on a reader connection, then evaluates.
    public func evaluate<T: Sendable>(account accountId: String, now: Date, workers: PolicyWorkers, quarantined: Bool,
                                      _ evaluate: @escaping @Sendable (PolicyContext) -> T) async throws -> T {
        try await workers.run(quarantined: quarantined) { [database] in
            Result {
                let context = try database.writer.read { db in try AccountRows.context(db, accountId: accountId, now: now) }
                return evaluate(context)
            }
        }.get()
    }

    public func record(account accountId: String, now: Date,
                       _ record: @escaping @Sendable (PolicyContext) throws -> DecisionRecord?) async throws -> RecordOutcome {
        try await committer.submit { db, chain -> RecordOutcome in
            let current = try AccountRows.context(db, accountId: accountId, now: now)
            guard let made = try record(current) else { return .stale }
            // A resubmission is found by the insert itself (the unique index on source + id):
            // no lookup on the common path; the rare duplicate was decided for nothing.
            switch try Decisions.insert(db, made, chain: &chain) {
            case .stored: return .stored(made)
            case .duplicate(let eventId, let sameBody, let response): return .duplicate(eventId: eventId, sameBody: sameBody, response: response)
            }
        }
    }

    public func event(id: String) async throws -> StoredEvent? {
        try await database.writer.read { db in try Decisions.storedEvent(db, id: id) }
    }

    public func decision(id: String) async throws -> StoredDecision? {
        try await database.writer.read { db in try Decisions.decision(db, id: id) }
    }

    public func decisions(_ filter: DecisionFilter) async throws -> Page<StoredDecision> {
        try await database.writer.read { db in try Decisions.list(db, filter) }
    }

    public func outcomesByHour(since: String) async throws -> [HourlyOutcomes] {
        try await database.writer.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT substr(decided_at, 1, 13) AS hour, outcome, COUNT(*) AS n FROM decisions WHERE decided_at >= ?
                GROUP BY hour, outcome
                """, arguments: [since])
            return HourlyOutcomes.group(rows.map { (hour: $0["hour"], outcome: $0["outcome"], count: $0["n"]) })
        }
    }
}
