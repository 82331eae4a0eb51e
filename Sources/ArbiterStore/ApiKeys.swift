import ArbiterCore
import Foundation
import GRDB

/// The roles an API key can hold; each route checks one.
public enum Role: String, Sendable, Codable, CaseIterable {
    case submitter
    case reviewer
    case policyAdmin = "policy_admin"
    case auditor
    case `operator`
    case admin
}

/// A newly created key: the secret is shown once and only its hash is stored.
public struct CreatedKey: Sendable {
    public let id: String
    public let secret: String
    public let role: Role
}

extension AppDatabase {
    /// On first start, creates an admin key and returns it (to be printed once). Returns nil
    /// when keys already exist.
    public func createInitialAdminKey() async throws -> CreatedKey? {
        try await writer.write { db in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM api_keys") == 0 else { return nil }
            return try ApiKeys.create(db, name: "initial admin", role: .admin, createdBy: "system")
        }
    }
}

public enum ApiKeys {
    /// Creates a key in the caller's transaction and audits it (without the secret).
    public static func create(_ db: Database, name: String, role: Role, approvalLimitMinor: Int64? = nil,
                              createdBy: String) throws -> CreatedKey {
        var random = SystemRandomNumberGenerator()
        let secretBytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }
        let secret = "arb_" + Hex.encode(secretBytes)
        let id = "key_" + Identifier.make()
        let now = Timestamp.format(Date())
        try db.execute(
            sql: """
                INSERT INTO api_keys (id, name, role, key_hash, approval_limit_minor, created_at, created_by)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [id, name, role.rawValue, sha256Hex(Array(secret.utf8)), approvalLimitMinor, now, createdBy])
        try AuditLog.append(db, actor: createdBy, kind: "key.created", subject: id,
                            data: ["name": .string(name), "role": .string(role.rawValue),
                                   "approval_limit_minor": approvalLimitMinor.map(JSONValue.int) ?? .null])
        return CreatedKey(id: id, secret: secret, role: role)
    }
}
