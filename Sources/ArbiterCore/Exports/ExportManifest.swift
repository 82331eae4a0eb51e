import Crypto
import Foundation

/// The signed manifest of an export: what it covers and how to check it without trusting
/// Arbiter.
///
/// The manifest is a JSON object; `signature` is the Ed25519 signature (base64) over the
/// canonical JSON (``CanonicalJSON``: object keys in code-point order, no whitespace, integers
/// as written, strings with only `"`, `\` and control characters escaped) of the same object
/// without its `signature` member. An auditor checks it with the published public key
/// (`ed25519:<base64 of 32 raw bytes>`), then the file's SHA-256 and row count against the
/// manifest, and for an audit export the hash chain inside the file.
public enum ExportManifest {
    /// `fields` with its signature added.
    public static func signed(_ fields: [String: JSONValue], key: ExportSigningKey) throws -> JSONValue {
        var fields = fields
        fields["signature"] = nil
        let signature = try key.sign(CanonicalJSON.encode(.object(fields)))
        fields["signature"] = .string(signature.base64EncodedString())
        return .object(fields)
    }

    public enum Check: Equatable, Sendable {
        case valid
        case invalid(String)
    }

    /// Whether `manifest` carries a valid signature by `publicKey`.
    public static func verifySignature(_ manifest: JSONValue, publicKey: Curve25519.Signing.PublicKey) -> Check {
        guard var fields = manifest.objectValue else { return .invalid("the manifest is not a JSON object") }
        guard let text = fields["signature"]?.stringValue, let signature = Data(base64Encoded: text) else {
            return .invalid("the manifest has no signature")
        }
        fields["signature"] = nil
        return publicKey.isValidSignature(signature, for: CanonicalJSON.encode(.object(fields)))
            ? .valid : .invalid("the manifest's signature does not match its contents and the public key")
    }
}
