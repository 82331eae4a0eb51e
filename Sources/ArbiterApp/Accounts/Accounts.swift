import ArbiterCore
import Foundation

/// The account snapshots policies trust: read by anyone who reads decisions, replaced only by
/// the CRM/billing sync (the edge checks the role).
public struct Accounts: Sendable {
    let store: any AccountStore

    public init(store: any AccountStore) {
        self.store = store
    }

    /// The snapshot (status `unknown` for an account never seen), its history now and its
    /// references in other systems.
    public func get(id: String) async throws -> (AccountSnapshot, HistoryAggregates, [String: String]) {
        (try await store.snapshot(id: id), try await store.history(accountId: id, now: Date()), try await store.externalRefs(accountId: id))
    }

    /// What policies see for an event on the account now.
    public func context(of accountId: String) async throws -> PolicyContext {
        try await store.context(accountId: accountId, now: Date())
    }

    /// Replaces the snapshot (and, when given, its external references); returns the history now.
    public func sync(_ account: AccountSnapshot, externalRefs: [String: String]? = nil, by actor: String) async throws -> HistoryAggregates {
        try await store.save(account, externalRefs: externalRefs, by: actor, now: Date())
    }

    /// The account's references in other systems.
    public func externalRefs(of accountId: String) async throws -> [String: String] {
        try await store.externalRefs(accountId: accountId)
    }

    /// The account a vendor's customer reference belongs to, if any.
    public func accountId(for customer: CustomerRef) async throws -> String? {
        try await store.accountId(for: customer)
    }
}
