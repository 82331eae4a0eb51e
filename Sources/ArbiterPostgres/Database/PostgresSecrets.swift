import ArbiterCore
import Crypto
import Foundation
import Logging
import PostgresNIO

/// Keys every instance must share — the export signing key, the masking key — live in the
/// database, made once by the first instance that needs them (never one per instance: exports
/// signed by two instances must verify with one public key). With a key-encryption key
/// (`ARBITER_KEY_ENCRYPTION_KEY`, base64 of 32 bytes, or `ARBITER_KEY_ENCRYPTION_KEY_FILE`) each
/// is stored sealed with AES-256-GCM, its name as associated data, so a copy of the database
/// alone does not give them away: the recommended setup. Without one they are stored as they
/// are, and every start warns.
public struct PostgresSecrets: Sendable {
    let backend: PostgresBackend
    let keyEncryptionKey: SymmetricKey?

    public init(backend: PostgresBackend, keyEncryptionKey: SymmetricKey?) {
        self.backend = backend
        self.keyEncryptionKey = keyEncryptionKey
        if keyEncryptionKey == nil {
            backend.logger.warning("no key-encryption key (ARBITER_KEY_ENCRYPTION_KEY): shared keys are stored unwrapped in the database")
        }
    }

    /// The key-encryption key the environment gives, if any.
    public static func keyEncryptionKey(environment: [String: String]) throws -> SymmetricKey? {
        try SecretSealing(environment: environment).key
    }

    static let lockKey: Int64 = 0x4152_4249_5445_5203

    /// The secret named `name`: the stored one, or — for the first instance that asks — `make()`,
    /// stored (sealed when there is a key-encryption key) in the same transaction.
    public func secret(named name: String, make: @Sendable () -> [UInt8]) async throws -> [UInt8] {
        let logger = backend.logger
        let kek = keyEncryptionKey
        return try await backend.transaction { unit in
            try await unit.connection.query("SELECT pg_advisory_xact_lock(\(Self.lockKey))", logger: logger)
            for try await (wrapping, value) in try await unit.connection.query(
                "SELECT wrapping, value FROM instance_secrets WHERE name = \(name)", logger: logger).decode((String, String).self) {
                return try Self.open(name: name, wrapping: wrapping, value: value, with: kek, logger: logger)
            }
            let secret = make()
            let (wrapping, value) = try Self.seal(name: name, secret: secret, with: kek)
            try await unit.connection.query("""
                INSERT INTO instance_secrets (name, wrapping, value, created_at) VALUES (\(name), \(wrapping), \(value), \(Timestamp.format(Date())))
                """, logger: logger)
            return secret
        }
    }

    static func seal(name: String, secret: [UInt8], with kek: SymmetricKey?) throws -> (wrapping: String, value: String) {
        try SecretSealing(key: kek).seal(name: name, secret: secret)
    }

    static func open(name: String, wrapping: String, value: String, with kek: SymmetricKey?, logger: Logger) throws -> [UInt8] {
        if wrapping == "none", kek != nil {
            logger.warning("the shared key is stored unwrapped; it was made before a key-encryption key was given", metadata: ["name": "\(name)"])
        }
        return try SecretSealing(key: kek).open(name: name, wrapping: wrapping, value: value)
    }
}
