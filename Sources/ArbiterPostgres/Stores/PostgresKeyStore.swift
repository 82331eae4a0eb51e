import ArbiterApp
import ArbiterCore
import Foundation
import PostgresNIO

/// API keys in PostgreSQL (`api_keys`), shared by every instance: a key revoked through one is
/// refused by all (after their short authentication cache). Each method is one transaction;
/// a change and its audit entry commit together.
public struct PostgresKeyStore: KeyStore {
    let backend: PostgresBackend

    public init(backend: PostgresBackend) {
        self.backend = backend
    }

    /// Every key change holds this transaction-scoped lock first: "add only if none" and "never
    /// revoke the last admin" read and write the table as one step across instances.
    static let lockKey: Int64 = 0x4152_4249_5445_5202

    public func add(_ key: ApiKey, secretHash: String, by actor: String, onlyIfNone: Bool) async throws -> Bool {
        let logger = backend.logger
        return try await backend.transaction { unit in
            try await unit.connection.query("SELECT pg_advisory_xact_lock(\(Self.lockKey))", logger: logger)
            if onlyIfNone {
                for try await count in try await unit.connection.query("SELECT count(*) FROM api_keys", logger: logger).decode(Int64.self)
                where count > 0 {
                    return false
                }
            }
            let limits = key.approvalLimits.map { CanonicalJSON.string(.object($0.mapValues(JSONValue.int))) }
            try await unit.connection.query("""
                INSERT INTO api_keys (id, name, role, key_hash, approval_limits, created_at, created_by)
                VALUES (\(key.id), \(key.name), \(key.role.rawValue), \(secretHash), \(limits), \(key.createdAt), \(actor))
                """, logger: logger)
            unit.audit(actor: actor, kind: "key.created", subject: key.id,
                                                data: ["name": .string(key.name), "role": .string(key.role.rawValue),
                                                       "approval_limits": key.approvalLimits.map { .object($0.mapValues(JSONValue.int)) } ?? .null])
            return true
        }
    }

    public func liveKey(secretHash: String) async throws -> ApiKey? {
        try await keys(where: "key_hash = $1 AND revoked_at IS NULL", secretHash).first
    }

    public func liveKey(id: String) async throws -> ApiKey? {
        try await keys(where: "id = $1 AND revoked_at IS NULL", id).first
    }

    public func all() async throws -> [ApiKey] {
        try await keys(where: nil, nil)
    }

    public func names() async throws -> [String: String] {
        Dictionary(try await all().map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
    }

    public func revoke(id: String, by actor: String) async throws -> ApiKey? {
        let logger = backend.logger
        let revoked = try await backend.transaction { unit -> Bool in
            try await unit.connection.query("SELECT pg_advisory_xact_lock(\(Self.lockKey))", logger: logger)
            var found: (role: String, revokedAt: String?)?
            for try await (role, revokedAt) in try await unit.connection.query("SELECT role, revoked_at FROM api_keys WHERE id = \(id)",
                                                                        logger: logger).decode((String, String?).self) {
                found = (role, revokedAt)
            }
            guard let found else { return false }
            guard found.revokedAt == nil else { return true }
            if found.role == Role.admin.rawValue {
                for try await admins in try await unit.connection.query(
                    "SELECT count(*) FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL", logger: logger).decode(Int64.self)
                where admins == 1 {
                    // Nobody could manage keys any more.
                    throw Refusal.conflict("this is the last active admin key; create another admin key before revoking it")
                }
            }
            try await unit.connection.query("UPDATE api_keys SET revoked_at = \(Timestamp.format(Date())) WHERE id = \(id)", logger: logger)
            unit.audit(actor: actor, kind: "key.revoked", subject: id)
            return true
        }
        return revoked ? try await keys(where: "id = $1", id).first : nil
    }

    private func keys(where condition: String?, _ value: String?) async throws -> [ApiKey] {
        var query = PostgresQuery(unsafeSQL: "SELECT id, name, role, approval_limits, created_at, revoked_at FROM api_keys"
                                  + (condition.map { " WHERE " + $0 } ?? "") + " ORDER BY created_at, id")
        if let value { query.binds.append(value) }
        var keys: [ApiKey] = []
        for try await (id, name, role, limits, createdAt, revokedAt) in try await backend.client.query(query, logger: backend.logger)
            .decode((String, String, String, String?, String, String?).self) {
            let approvalLimits = limits.flatMap { try? JSONValue.parse(Data($0.utf8)) }?.objectValue?.compactMapValues(\.intValue)
            keys.append(ApiKey(id: id, name: name, role: Role(rawValue: role) ?? .submitter, approvalLimits: approvalLimits,
                               createdAt: createdAt, revokedAt: revokedAt))
        }
        return keys
    }
}
