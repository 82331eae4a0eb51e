import ArbiterApp
import ArbiterCore
import Foundation
import GRDB

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
