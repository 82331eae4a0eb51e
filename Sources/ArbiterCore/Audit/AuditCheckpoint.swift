import Crypto
import Foundation

/// A signed statement of the audit chain's head: "entry `seq`, with hash `hash`, was the last
/// entry at `at`". The hash chain shows any change to an entry and any gap, but not entries
/// removed from the end; a checkpoint kept outside the service does: a database that no longer
/// holds entry `seq` with that hash has lost (or rewritten) its tail.
///
/// Its JSON: `format_version`, `seq`, `hash`, `at`, `key_id`, `signature` — Ed25519 (base64, the
/// export signing key) over the canonical JSON of the object without `signature`, as export
/// manifests are signed.
public struct AuditCheckpoint: Sendable, Hashable {
    public let seq: Int64
    public let hash: String
    /// When it was signed, as signed (RFC 3339 text: the signature covers these bytes).
    public let at: String
    public let keyId: String
    public let signature: String

    /// The head `seq`/`hash` signed now by `key`.
    public static func sign(seq: Int64, hash: String, at: Date, key: ExportSigningKey) throws -> AuditCheckpoint {
        let text = Timestamp.format(at)
        let unsigned = fields(seq: seq, hash: hash, at: text, keyId: key.keyId)
        let signature = try key.sign(CanonicalJSON.encode(.object(unsigned)))
        return AuditCheckpoint(seq: seq, hash: hash, at: text, keyId: key.keyId, signature: signature.base64EncodedString())
    }

    public init(seq: Int64, hash: String, at: String, keyId: String, signature: String) {
        self.seq = seq
        self.hash = hash
        self.at = at
        self.keyId = keyId
        self.signature = signature
    }

    static func fields(seq: Int64, hash: String, at: String, keyId: String) -> [String: JSONValue] {
        ["format_version": 1, "seq": .int(seq), "hash": .string(hash), "at": .string(at), "key_id": .string(keyId)]
    }

    public var json: JSONValue {
        var object = Self.fields(seq: seq, hash: hash, at: at, keyId: keyId)
        object["signature"] = .string(signature)
        return .object(object)
    }

    /// Reads a checkpoint as ``json`` writes it; the error names what is wrong.
    public init(json: JSONValue) throws(Refusal) {
        guard case .object(let fields) = json else { throw Refusal.invalid([FieldError("", "a checkpoint is a JSON object")]) }
        guard case .int(let seq)? = fields["seq"], seq >= 1 else { throw Refusal.invalid([FieldError("seq", "must be an entry's seq (1 or more)")]) }
        guard let hash = fields["hash"]?.stringValue, hash.count == 64 else { throw Refusal.invalid([FieldError("hash", "must be a SHA-256 in hex")]) }
        guard let at = fields["at"]?.stringValue, Timestamp.parse(at) != nil else { throw Refusal.invalid([FieldError("at", "must be an RFC 3339 time")]) }
        guard let keyId = fields["key_id"]?.stringValue, let signature = fields["signature"]?.stringValue else {
            throw Refusal.invalid([FieldError("signature", "a checkpoint carries key_id and signature")])
        }
        self.init(seq: seq, hash: hash, at: at, keyId: keyId, signature: signature)
    }

    /// Whether `key`'s public half signed exactly this checkpoint.
    public func isSigned(by key: ExportSigningKey) -> Bool { isSigned(by: key.privateKey.publicKey) }

    /// Whether `publicKey` signed exactly this checkpoint.
    public func isSigned(by publicKey: Curve25519.Signing.PublicKey) -> Bool {
        guard let raw = Data(base64Encoded: signature) else { return false }
        return publicKey.isValidSignature(raw, for: CanonicalJSON.encode(.object(Self.fields(seq: seq, hash: hash, at: at, keyId: keyId))))
    }
}
