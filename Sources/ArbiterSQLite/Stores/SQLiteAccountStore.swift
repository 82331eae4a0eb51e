import ArbiterApp
import ArbiterCore
import Foundation
import GRDB

/// Account snapshots and history in SQLite.
public struct SQLiteAccountStore: AccountStore {
    let database: AppDatabase

    public init(database: AppDatabase) {
        self.database = database
    }

    public func snapshot(id: String) async throws -> AccountSnapshot {
        try await database.writer.read { db in try AccountRows.snapshot(db, id: id) }
    }

    public func history(accountId: String, now: Date) async throws -> HistoryAggregates {
        try await database.writer.read { db in try AccountRows.history(db, accountId: accountId, now: now) }
    }

    public func save(_ account: AccountSnapshot, externalRefs: [String: String]?, by actor: String, now: Date) async throws -> HistoryAggregates {
        try await database.writer.write { db in
            if let externalRefs { try AccountRows.replaceRefs(db, accountId: account.id, externalRefs) }
            try AccountRows.save(db, account, actor: actor, at: now, externalRefs: externalRefs)
            return try AccountRows.history(db, accountId: account.id, now: now)
        }
    }

    public func externalRefs(accountId: String) async throws -> [String: String] {
        try await database.writer.read { db in try AccountRows.refs(db, accountId: accountId) }
    }

    public func accountId(for customer: CustomerRef) async throws -> String? {
        try await database.writer.read { db in
            try String.fetchOne(db, sql: "SELECT account_id FROM account_refs WHERE system = ? AND ref = ?",
                                arguments: [customer.system, customer.ref])
        }
    }

    public func context(accountId: String, now: Date) async throws -> PolicyContext {
        try await database.writer.read { db in try AccountRows.context(db, accountId: accountId, now: now) }
    }
}
