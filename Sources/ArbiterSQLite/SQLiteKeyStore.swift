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

/// The rows of `api_keys`, for the store and for tests that set keys up in a transaction.
public enum ApiKeys {
    /// Inserts a key in the caller's transaction and audits it (without the secret).
    static func insert(_ db: Database, _ key: ApiKey, secretHash: String, by actor: String) throws {
        try db.execute(
            sql: """
                INSERT INTO api_keys (id, name, role, key_hash, approval_limits, created_at, created_by)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [key.id, key.name, key.role.rawValue, secretHash, key.approvalLimits.map { CanonicalJSON.string(limitsJSON($0)) },
                        key.createdAt, actor])
        try AuditLog.append(db, actor: actor, kind: "key.created", subject: key.id,
                            data: ["name": .string(key.name), "role": .string(key.role.rawValue),
                                   "approval_limits": key.approvalLimits.map(limitsJSON) ?? .null])
    }

    /// Creates a key in the caller's transaction; returns it with its secret.
    public static func create(_ db: Database, name: String, role: Role, approvalLimits: [String: Int64]? = nil,
                              createdBy: String, secret given: String? = nil) throws -> (key: ApiKey, secret: String) {
        let (key, secret) = Keys.newKey(name: name, role: role, approvalLimits: approvalLimits, secret: given)
        try insert(db, key, secretHash: ApiKey.hash(secret: secret), by: createdBy)
        return (key, secret)
    }

    static func limitsJSON(_ limits: [String: Int64]) -> JSONValue { .object(limits.mapValues(JSONValue.int)) }

    static func parseLimits(_ text: String) -> [String: Int64]? {
        guard let object = (try? JSONValue.parse(Data(text.utf8)))?.objectValue else { return nil }
        return object.compactMapValues(\.intValue)
    }
}

extension ApiKey {
    init(row: Row) {
        self.init(id: row["id"], name: row["name"], role: Role(rawValue: row["role"]) ?? .submitter,
                  approvalLimits: (row["approval_limits"] as String?).flatMap(ApiKeys.parseLimits),
                  createdAt: row["created_at"], revokedAt: row["revoked_at"])
    }
}
