import ArbiterApp
import ArbiterCore
import Foundation
import GRDB

/// API keys in SQLite (`api_keys`).
public struct SQLiteKeyStore: KeyStore {
    let database: AppDatabase

    public init(database: AppDatabase) {
        self.database = database
    }

    public func add(_ key: ApiKey, secretHash: String, by actor: String, onlyIfNone: Bool) async throws -> Bool {
        try await database.writer.write { db in
            if onlyIfNone, try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM api_keys") != 0 { return false }
            try ApiKeys.insert(db, key, secretHash: secretHash, by: actor)
            return true
        }
    }

    public func liveKey(secretHash: String) async throws -> ApiKey? {
        try await database.writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL", arguments: [secretHash])
                .map(ApiKey.init(row:))
        }
    }

    public func liveKey(id: String) async throws -> ApiKey? {
        try await database.writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM api_keys WHERE id = ? AND revoked_at IS NULL", arguments: [id]).map(ApiKey.init(row:))
        }
    }

    public func all() async throws -> [ApiKey] {
        try await database.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM api_keys ORDER BY created_at, id").map(ApiKey.init(row:))
        }
    }

    public func names() async throws -> [String: String] {
        try await database.writer.read { db in
            Dictionary(try Row.fetchAll(db, sql: "SELECT id, name FROM api_keys").map { ($0["id"], $0["name"]) }, uniquingKeysWith: { a, _ in a })
        }
    }

    public func revoke(id: String, by actor: String) async throws -> ApiKey? {
        try await database.writer.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM api_keys WHERE id = ?", arguments: [id]) else { return nil }
            let key = ApiKey(row: row)
            if key.revokedAt == nil, key.role == .admin,
               try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL") == 1 {
                // Nobody could manage keys any more.
                throw Refusal.conflict("this is the last active admin key; create another admin key before revoking it")
            }
            if key.revokedAt == nil {
                try db.execute(sql: "UPDATE api_keys SET revoked_at = ? WHERE id = ?", arguments: [Timestamp.format(Date()), id])
                try AuditLog.append(db, actor: actor, kind: "key.revoked", subject: id)
            }
            return try Row.fetchOne(db, sql: "SELECT * FROM api_keys WHERE id = ?", arguments: [id]).map(ApiKey.init(row:))
        }
    }
}
