import Crypto
import Foundation

/// How secrets kept in the database are stored: sealed with AES-256-GCM under the
/// key-encryption key (`ARBITER_KEY_ENCRYPTION_KEY`, base64 of 32 bytes, or
/// `ARBITER_KEY_ENCRYPTION_KEY_FILE`), the secret's name as associated data — so a copy of the
/// database alone does not give them away, and a sealed value cannot be moved under another
/// name. Without a key-encryption key they are stored as they are (`none`), and the service
/// warns.
public struct SecretSealing: Sendable {
    public let key: SymmetricKey?

    public init(key: SymmetricKey?) {
        self.key = key
    }

    /// The key-encryption key the environment gives, if any.
    public init(environment: [String: String]) throws {
        var text = environment["ARBITER_KEY_ENCRYPTION_KEY"]
        if text == nil, let path = environment["ARBITER_KEY_ENCRYPTION_KEY_FILE"] {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw Refusal.invalid("ARBITER_KEY_ENCRYPTION_KEY_FILE", "cannot read \(path)")
            }
            text = String(decoding: data, as: UTF8.self)
        }
        guard let text = text?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else {
            self.init(key: nil)
            return
        }
        guard let bytes = Data(base64Encoded: text), bytes.count == 32 else {
            throw Refusal.invalid("ARBITER_KEY_ENCRYPTION_KEY", "must be 32 random bytes in base64 (e.g. `openssl rand -base64 32`)")
        }
        self.init(key: SymmetricKey(data: bytes))
    }

    /// The wrapping (`aes-256-gcm` or `none`) and the stored value (base64).
    public func seal(name: String, secret: [UInt8]) throws -> (wrapping: String, value: String) {
        guard let key else { return ("none", Data(secret).base64EncodedString()) }
        let sealed = try AES.GCM.seal(secret, using: key, authenticating: Data(name.utf8))
        guard let combined = sealed.combined else { throw Refusal.conflict("could not seal \(name)") }
        return ("aes-256-gcm", combined.base64EncodedString())
    }

    /// The secret a stored value holds; a refusal naming what is wrong when it does not open.
    public func open(name: String, wrapping: String, value: String) throws -> [UInt8] {
        guard let bytes = Data(base64Encoded: value) else { throw Refusal.conflict("the stored \(name) is damaged (not base64)") }
        switch wrapping {
        case "none":
            return Array(bytes)
        case "aes-256-gcm":
            guard let key else {
                throw Refusal.conflict("\(name) is sealed with a key-encryption key: give it as ARBITER_KEY_ENCRYPTION_KEY (or _FILE), as the other instances have it")
            }
            do {
                return Array(try AES.GCM.open(try AES.GCM.SealedBox(combined: bytes), using: key, authenticating: Data(name.utf8)))
            } catch {
                throw Refusal.conflict("\(name) does not open with this key-encryption key: it is not the one the other instances use")
            }
        default:
            throw Refusal.conflict("the stored \(name) is wrapped as \(wrapping), which this version does not know")
        }
    }
}
