import ArbiterApp
import ArbiterCore
import Foundation
import PostgresNIO

/// Account snapshots and history in PostgreSQL. A sync holds the account's lock, as a decision
/// does: a decision never commits against a snapshot replaced since it read it.
struct PostgresAccountStore: AccountStore {
    let backend: PostgresBackend

    func snapshot(id: String) async throws -> AccountSnapshot {
        try await backend.read { unit in try await PGAccounts.snapshot(unit, id: id) }
    }

    func history(accountId: String, now: Date) async throws -> HistoryAggregates {
        try await context(accountId: accountId, now: now).history
    }

    func save(_ account: AccountSnapshot, externalRefs: [String: String]?, by actor: String, now: Date) async throws -> HistoryAggregates {
        try await backend.transaction { unit in
            try await unit.lockAccounts([account.id])
            if let externalRefs { try await PGAccounts.replaceRefs(unit, accountId: account.id, externalRefs) }
            try await PGAccounts.save(unit, account, actor: actor, at: now, externalRefs: externalRefs)
            return try await PGAccounts.context(unit, accountId: account.id, now: now).history
        }
    }

    func externalRefs(accountId: String) async throws -> [String: String] {
        try await backend.read { unit in try await PGAccounts.refs(unit, accountId: accountId) }
    }

    func accountId(for customer: CustomerRef) async throws -> String? {
        try await backend.read { unit in
            try await unit.value("SELECT account_id FROM account_refs WHERE system = \(customer.system) AND ref = \(customer.ref)", as: String.self)
        }
    }

    func context(accountId: String, now: Date) async throws -> PolicyContext {
        try await backend.read { unit in try await PGAccounts.context(unit, accountId: accountId, now: now) }
    }
}
