import ArbiterCore
import Foundation

/// Account snapshots (kept by the CRM/billing sync) and the history aggregates Arbiter derives
/// from its own records: what policies see as `ctx.account` and `ctx.history`.
public protocol AccountStore: Sendable {
    /// The stored snapshot, or `unknown` for an account never seen.
    func snapshot(id: String) async throws -> AccountSnapshot

    /// The history aggregates as of `now`.
    func history(accountId: String, now: Date) async throws -> HistoryAggregates

    /// Replaces the snapshot, audited as `account.synced` by `actor`, and returns the history
    /// as of `now`. With `externalRefs`, the account's references in other systems are replaced
    /// too, in the same transaction; a reference another account holds is a conflict.
    func save(_ account: AccountSnapshot, externalRefs: [String: String]?, by actor: String, now: Date) async throws -> HistoryAggregates

    /// The account's references in other systems (`{"stripe": "cus_…"}`).
    func externalRefs(accountId: String) async throws -> [String: String]

    /// The account a vendor's customer reference belongs to, if any.
    func accountId(for customer: CustomerRef) async throws -> String?

    /// What policies see for an event on this account at `now`, read in one transaction.
    func context(accountId: String, now: Date) async throws -> PolicyContext
}
