import ArbiterApp
import ArbiterCore
import ArbiterPolicy
import Foundation
import PostgresNIO

/// Events and decisions in PostgreSQL, shared by every instance.
///
/// One account's decisions are serialised twice over: in this process by a keyed lock (so its
/// own requests for an account queue instead of racing), and across instances by the account's
/// advisory lock, which the unit that records a decision holds from reading the account's
/// context to its commit. A decision whose context moved since the policies read it (another
/// instance decided for the account meanwhile) is not stored: the intake decides it again.
struct PostgresDecisionStore: DecisionStore {
    let backend: PostgresBackend
    let committer: PostgresCommitter
    private let accounts = KeyedLock()

    init(backend: PostgresBackend, committer: PostgresCommitter) {
        self.backend = backend
        self.committer = committer
    }

    func serializing<T: Sendable>(account accountId: String, _ body: () async throws -> T) async throws -> T {
        try await accounts.withLock(accountId, body)
    }

    func evaluate<T: Sendable>(account accountId: String, now: Date, workers: PolicyWorkers, quarantined: Bool,
                               _ evaluate: @escaping @Sendable (PolicyContext) -> T) async throws -> T {
        let context = try await backend.read { unit in try await PGAccounts.context(unit, accountId: accountId, now: now) }
        return try await workers.run(quarantined: quarantined) { evaluate(context) }
    }

    func record(account accountId: String, now: Date,
                _ record: @escaping @Sendable (PolicyContext) throws -> DecisionRecord?) async throws -> RecordOutcome {
        try await committer.submit(accounts: [accountId], reading: (accountId, now)) { unit -> RecordOutcome in
            let current = try await unit.context(accountId: accountId, now: now)
            guard let made = try record(current) else { return .stale }
            switch try await PGDecisions.insert(unit, made) {
            case .stored: return .stored(made)
            case .duplicate(let eventId, let sameBody, let response): return .duplicate(eventId: eventId, sameBody: sameBody, response: response)
            }
        }
    }

    func event(id: String) async throws -> StoredEvent? {
        try await backend.read { unit in try await PGDecisions.storedEvent(unit, id: id) }
    }

    func decision(id: String) async throws -> StoredDecision? {
        try await backend.read { unit in try await PGDecisions.decision(unit, id: id) }
    }

    func decisions(_ filter: DecisionFilter) async throws -> Page<StoredDecision> {
        try await backend.read { unit in try await PGDecisions.list(unit, filter) }
    }

    func outcomesByHour(since: String) async throws -> [HourlyOutcomes] {
        try await backend.read { unit in
            let rows = try await unit.rows("""
                SELECT substr(decided_at, 1, 13) AS hour, outcome, COUNT(*) AS n FROM decisions WHERE decided_at >= \(since)
                GROUP BY 1, 2
                """)
            return HourlyOutcomes.group(try rows.map { (hour: try $0["hour"], outcome: try $0["outcome"], count: Int(try $0["n"] as Int64)) })
        }
    }
}
