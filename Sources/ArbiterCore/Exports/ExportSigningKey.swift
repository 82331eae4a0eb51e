import Crypto
import Foundation

/// The Ed25519 key that signs export manifests, so auditors can check an export offline
/// without trusting Arbiter.
///
/// The private key lives in the data directory (`export-signing.key`, mode 0600: its 32 raw
/// bytes as hex on one line), created on first start. The public key is published as one line:
/// `ed25519:<base64 of the 32 raw bytes>` — what `arbiter audit public-key` prints,
/// `GET /v1/exports/public-key` returns, and `verify-export --public-key FILE` reads.
public struct ExportSigningKey: Sendable {
    public static let fileName = "export-signing.key"
    let privateKey: Curve25519.Signing.PrivateKey

    public init(privateKey: Curve25519.Signing.PrivateKey) {
        self.privateKey = privateKey
    }

    /// Reads the key in `directory`, or creates it (mode 0600) when there is none.
    public static func loadOrCreate(in directory: String) throws -> ExportSigningKey {
        let bytes = try SecretFile.loadOrCreate(in: directory, name: fileName, what: "Ed25519 private key") {
            Array(Curve25519.Signing.PrivateKey().rawRepresentation)
        }
        return ExportSigningKey(privateKey: try Curve25519.Signing.PrivateKey(rawRepresentation: bytes))
    }

    /// Reads the key in `directory`; nil when there is none (nothing is created).
    public static func load(in directory: String) throws -> ExportSigningKey? {
        let path = URL(fileURLWithPath: directory).appendingPathComponent(fileName).path
        guard let bytes = try SecretFile.load(path, what: "Ed25519 private key") else { return nil }
        return ExportSigningKey(privateKey: try Curve25519.Signing.PrivateKey(rawRepresentation: bytes))
    }

    public var publicKey: Curve25519.Signing.PublicKey { privateKey.publicKey }

    /// The private key's 32 bytes: only to move the key into a shared store (`arbiter store copy`).
    public var privateKeyBytes: [UInt8] { Array(privateKey.rawRepresentation) }

    /// `ed25519:<base64>`, the published form of the public key.
    public var publicKeyText: String { Self.publicKeyText(privateKey.publicKey) }

    static func publicKeyText(_ key: Curve25519.Signing.PublicKey) -> String {
        "ed25519:" + key.rawRepresentation.base64EncodedString()
    }

    /// A short name for the key: the first 16 hex characters of SHA-256 of the public key.
    public var keyId: String { String(sha256Hex(privateKey.publicKey.rawRepresentation).prefix(16)) }

    public func sign(_ message: some DataProtocol) throws -> Data {
        try privateKey.signature(for: message)
    }

    /// Reads a published public key (`ed25519:<base64>`, surrounding whitespace ignored).
    public static func publicKey(from text: String) -> Curve25519.Signing.PublicKey? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.hasPrefix("ed25519:"), let raw = Data(base64Encoded: String(trimmed.dropFirst("ed25519:".count))) else {
            return nil
        }
        return try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
    }
}
