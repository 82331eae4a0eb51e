import ArbiterCore
import Foundation

/// The account snapshots policies trust: read by anyone who reads decisions, replaced only by
/// the CRM/billing sync (the edge checks the role).
public struct Accounts: Sendable {
    let store: any AccountStore

    public init(store: any AccountStore) {
        self.store = store
    }

    /// The snapshot (status `unknown` for an account never seen) and its history now.
    public func get(id: String) async throws -> (AccountSnapshot, HistoryAggregates) {
        (try await store.snapshot(id: id), try await store.history(accountId: id, now: Date()))
    }

    /// What policies see for an event on the account now.
    public func context(of accountId: String) async throws -> PolicyContext {
        try await store.context(accountId: accountId, now: Date())
    }

    /// Replaces the snapshot; returns the history now.
    public func sync(_ account: AccountSnapshot, by actor: String) async throws -> HistoryAggregates {
        try await store.save(account, by: actor, now: Date())
    }
}
