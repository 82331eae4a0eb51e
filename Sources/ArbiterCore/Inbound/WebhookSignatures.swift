import Crypto
import Foundation

/// HMAC-SHA256 checks of the vendors' webhook signatures. Every comparison is constant-time,
/// and each accepts any of a source's secrets (two during a rotation).
public enum WebhookSignature {
    /// Stripe: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]` (other schemes such as
    /// `v0` are ignored), each `v1` an HMAC-SHA256 in hex over `"<t>.<raw body>"` with the
    /// endpoint's signing secret, accepted when any matches and `t` is within `tolerance` of
    /// `now` in either direction. Documented at https://docs.stripe.com/webhooks#verify-manually.
    /// Mapped sources may use the same scheme under another header (`name`).
    public static func stripe(header: String?, body: [UInt8], secrets: [String], tolerance: TimeInterval,
                              now: Date, name: String = "Stripe-Signature") throws(InboundRejection) {
        guard let header, !header.isEmpty else { throw InboundRejection(.badRequest, "no \(name) header") }
        var timestamp: Int64?
        var signatures: [[UInt8]] = []
        for part in header.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else { continue }
            switch pair[0] {
            case "t": timestamp = Int64(pair[1])
            case "v1": if let bytes = Hex.decode(pair[1]) { signatures.append(bytes) }
            default: break
            }
        }
        guard let timestamp else { throw InboundRejection(.badRequest, "\(name) has no timestamp (t=)") }
        guard !signatures.isEmpty else { throw InboundRejection(.badRequest, "\(name) has no v1 signature") }
        try within(tolerance, seconds: timestamp, now: now)
        let signed = Array("\(timestamp).".utf8) + body
        guard secrets.contains(where: { secret in
            let expected = Array(HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: Array(secret.utf8))))
            return signatures.contains { constantTimeEqual($0, expected) }
        }) else {
            throw InboundRejection(.unauthorized, "no v1 signature matches the source's signing secrets")
        }
    }

    /// Zendesk: `X-Zendesk-Webhook-Signature` is base64 of an HMAC-SHA256 over
    /// `<X-Zendesk-Webhook-Signature-Timestamp><raw body>` with the webhook's signing secret; the
    /// timestamp is ISO 8601 and must be within `tolerance` of `now`. Documented at
    /// https://developer.zendesk.com/documentation/webhooks/verifying/.
    public static func zendesk(signature: String?, timestamp: String?, body: [UInt8], secrets: [String],
                               tolerance: TimeInterval, now: Date) throws(InboundRejection) {
        guard let signature, !signature.isEmpty else { throw InboundRejection(.badRequest, "no X-Zendesk-Webhook-Signature header") }
        guard let timestamp, !timestamp.isEmpty else {
            throw InboundRejection(.badRequest, "no X-Zendesk-Webhook-Signature-Timestamp header")
        }
        guard let at = Timestamp.parse(timestamp) else {
            throw InboundRejection(.badRequest, "X-Zendesk-Webhook-Signature-Timestamp is not an ISO 8601 time")
        }
        guard let given = Data(base64Encoded: signature) else {
            throw InboundRejection(.badRequest, "X-Zendesk-Webhook-Signature is not base64")
        }
        try within(tolerance, seconds: Int64(at.timeIntervalSince1970.rounded(.down)), now: now)
        try hmac(Array(given), over: Array(timestamp.utf8) + body, secrets: secrets)
    }

    /// A plain HMAC over `signed` (SHA-256 unless said), already decoded from its header.
    public static func hmac(_ given: [UInt8], over signed: [UInt8], secrets: [String],
                            algorithm: HMACAlgorithm = .sha256) throws(InboundRejection) {
        guard secrets.contains(where: { secret in constantTimeEqual(given, algorithm.code(signed, secret: secret)) }) else {
            throw InboundRejection(.unauthorized, "the signature matches none of the source's secrets")
        }
    }

    public enum HMACAlgorithm: String, Sendable, CaseIterable {
        case sha1, sha256, sha512

        func code(_ message: [UInt8], secret: String) -> [UInt8] {
            let key = SymmetricKey(data: Array(secret.utf8))
            return switch self {
            case .sha1: Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: key))
            case .sha256: Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
            case .sha512: Array(HMAC<SHA512>.authenticationCode(for: message, using: key))
            }
        }
    }

    /// HTTP Basic (RFC 7617): `Authorization: Basic base64(user:password)`, compared with each
    /// secret (`user:password`) in constant time.
    public static func basic(authorization: String?, secrets: [String]) throws(InboundRejection) {
        guard let authorization, !authorization.isEmpty else { throw InboundRejection(.unauthorized, "no Authorization header") }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
              let decoded = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)) else {
            throw InboundRejection(.badRequest, "Authorization is not HTTP Basic credentials")
        }
        let given = Array(decoded)
        // Every secret is compared, whichever matches: the time says nothing of which.
        var matched = false
        for secret in secrets where constantTimeEqual(given, Array(secret.utf8)) { matched = true }
        guard matched else { throw InboundRejection(.unauthorized, "the credentials match none of the source's") }
    }

    static func within(_ tolerance: TimeInterval, seconds: Int64, now: Date) throws(InboundRejection) {
        let age = now.timeIntervalSince1970 - Double(seconds)
        if age > tolerance {
            throw InboundRejection(.unauthorized, "the signature's timestamp is \(Int(age)) s old, more than the \(Int(tolerance)) s tolerated")
        }
        if -age > tolerance {
            throw InboundRejection(.unauthorized, "the signature's timestamp is \(Int(-age)) s in the future, more than the \(Int(tolerance)) s tolerated")
        }
    }

    /// Equal lengths and bytes, in time that depends only on the length.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}
