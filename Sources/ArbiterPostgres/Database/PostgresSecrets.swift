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
        var text = environment["ARBITER_KEY_ENCRYPTION_KEY"]
        if text == nil, let path = environment["ARBITER_KEY_ENCRYPTION_KEY_FILE"] {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw Refusal.invalid("ARBITER_KEY_ENCRYPTION_KEY_FILE", "cannot read \(path)")
            }
            text = String(decoding: data, as: UTF8.self)
        }
        guard let text = text?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else { return nil }
        guard let bytes = Data(base64Encoded: text), bytes.count == 32 else {
            throw Refusal.invalid("ARBITER_KEY_ENCRYPTION_KEY", "must be 32 random bytes in base64 (e.g. `openssl rand -base64 32`)")
        }
        return SymmetricKey(data: bytes)
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
        guard let kek else { return ("none", Data(secret).base64EncodedString()) }
        let sealed = try AES.GCM.seal(secret, using: kek, authenticating: Data(name.utf8))
        guard let combined = sealed.combined else { throw Refusal.conflict("could not seal \(name)") }
        return ("aes-256-gcm", combined.base64EncodedString())
    }

    static func open(name: String, wrapping: String, value: String, with kek: SymmetricKey?, logger: Logger) throws -> [UInt8] {
        guard let bytes = Data(base64Encoded: value) else { throw Refusal.conflict("the stored \(name) is damaged (not base64)") }
        switch wrapping {
        case "none":
            if kek != nil {
                logger.warning("the shared key is stored unwrapped; it was made before a key-encryption key was given", metadata: ["name": "\(name)"])
            }
            return Array(bytes)
        case "aes-256-gcm":
            guard let kek else {
                throw Refusal.conflict("\(name) is sealed with a key-encryption key: give it as ARBITER_KEY_ENCRYPTION_KEY (or _FILE), as the other instances have it")
            }
            do {
                return Array(try AES.GCM.open(try AES.GCM.SealedBox(combined: bytes), using: kek, authenticating: Data(name.utf8)))
            } catch {
                throw Refusal.conflict("\(name) does not open with this key-encryption key: it is not the one the other instances use")
            }
        default:
            throw Refusal.conflict("the stored \(name) is wrapped as \(wrapping), which this version does not know")
        }
    }
}
