import ArbiterCore
import Foundation
import GRDB

/// The roles an API key can hold; each route checks one.
public enum Role: String, Sendable, Codable, CaseIterable {
    case submitter
    /// The CRM/billing sync: keeps the account snapshots policies trust. A support tool's
    /// `submitter` key cannot change them.
    case sync
    case reviewer
    case policyAdmin = "policy_admin"
    case auditor
    case `operator`
    case admin

    /// Who may read events, decisions and accounts.
    public static let readers: [Role] = [.submitter, .reviewer, .auditor, .operator, .policyAdmin]
}

/// A newly created key: the secret is shown once and only its hash is stored.
public struct CreatedKey: Sendable {
    public let id: String
    public let secret: String
    public let role: Role
}

/// An API key as routes see it: who is calling, and what it may do. Never the secret.
public struct ApiKey: Sendable, Hashable {
    public let id: String
    public let name: String
    public let role: Role
    /// Reviewers: the most money one approval may move, by currency, in minor units (nil: no
    /// limit; money in a currency missing from the limits cannot be approved).
    public let approvalLimits: [String: Int64]?
    public let createdAt: String
    public let revokedAt: String?

    /// Whether the key may use a route open to `roles` (`admin` may use every route).
    public func may(_ roles: [Role]) -> Bool { role == .admin || roles.contains(role) }

    init(row: Row) {
        id = row["id"]
        name = row["name"]
        role = Role(rawValue: row["role"]) ?? .submitter
        approvalLimits = (row["approval_limits"] as String?).flatMap(ApiKeys.parseLimits)
        createdAt = row["created_at"]
        revokedAt = row["revoked_at"]
    }

    public var json: JSONValue {
        .object([
            "id": .string(id), "name": .string(name), "role": .string(role.rawValue),
            "approval_limits": approvalLimits.map(ApiKeys.limitsJSON) ?? .null,
            "created_at": .string(createdAt), "revoked_at": revokedAt.map(JSONValue.string) ?? .null,
        ])
    }
}

extension AppDatabase {
    /// On first start, creates the admin key and returns it (to be shown once). With `secret`
    /// (from ARBITER_ADMIN_KEY) that value becomes the key instead of a random one. Returns nil
    /// when keys already exist.
    public func createInitialAdminKey(secret: String? = nil) async throws -> CreatedKey? {
        try await writer.write { db in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM api_keys") == 0 else { return nil }
            return try ApiKeys.create(db, name: "initial admin", role: .admin, createdBy: "system", secret: secret)
        }
    }

    /// The live key whose secret this is; nil for an unknown or revoked key.
    public func authenticate(secret: String) async throws -> ApiKey? {
        try await key(hash: ApiKeys.hash(secret: secret))
    }

    /// The live key whose secret hashes to `hash` (see ``ApiKeys/hash(secret:)``).
    public func key(hash: String) async throws -> ApiKey? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL", arguments: [hash])
                .map(ApiKey.init(row:))
        }
    }
}

public enum ApiKeys {
    /// What is stored for a secret: its SHA-256 in hex.
    public static func hash(secret: String) -> String { sha256Hex(Array(secret.utf8)) }

    /// Creates a key in the caller's transaction and audits it (without the secret). A random
    /// secret is made unless one is given.
    public static func create(_ db: Database, name: String, role: Role, approvalLimits: [String: Int64]? = nil,
                              createdBy: String, secret given: String? = nil) throws -> CreatedKey {
        var random = SystemRandomNumberGenerator()
        let secret = given ?? ("arb_" + Hex.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }))
        let id = "key_" + Identifier.make()
        let now = Timestamp.format(Date())
        try db.execute(
            sql: """
                INSERT INTO api_keys (id, name, role, key_hash, approval_limits, created_at, created_by)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [id, name, role.rawValue, hash(secret: secret), approvalLimits.map { CanonicalJSON.string(limitsJSON($0)) },
                        now, createdBy])
        try AuditLog.append(db, actor: createdBy, kind: "key.created", subject: id,
                            data: ["name": .string(name), "role": .string(role.rawValue),
                                   "approval_limits": approvalLimits.map(limitsJSON) ?? .null])
        return CreatedKey(id: id, secret: secret, role: role)
    }
}

extension ApiKeys {
    static func limitsJSON(_ limits: [String: Int64]) -> JSONValue { .object(limits.mapValues(JSONValue.int)) }

    static func parseLimits(_ text: String) -> [String: Int64]? {
        guard let object = (try? JSONValue.parse(Data(text.utf8)))?.objectValue else { return nil }
        return object.compactMapValues(\.intValue)
    }

    /// The live (not revoked) key with this id.
    public static func live(_ db: Database, id: String) throws -> ApiKey? {
        try Row.fetchOne(db, sql: "SELECT * FROM api_keys WHERE id = ? AND revoked_at IS NULL", arguments: [id]).map(ApiKey.init(row:))
    }

    /// Every key, oldest first.
    public static func list(_ db: Database) throws -> [ApiKey] {
        try Row.fetchAll(db, sql: "SELECT * FROM api_keys ORDER BY created_at, id").map(ApiKey.init(row:))
    }

    /// Revokes a key and audits it. Returns the key, or nil when there is no such key.
    /// Revoking twice keeps the first revocation.
    public static func revoke(_ db: Database, id: String, by actor: String) throws -> ApiKey? {
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
