import Foundation

/// How a mapped source's requests are authenticated (`verifier` in `sources.json`):
///
/// - `{"type": "hmac", "header": NAME, "algorithm": "sha256"|"sha1"|"sha512", "encoding": "hex"|"base64", "prefix": TEXT}`:
///   the header holds an HMAC of the raw body (after `prefix`, e.g. `sha256=`), the way
///   GitHub, Shopify or Salesforce-style senders sign.
/// - `{"type": "timestamped", "header": NAME}`: Stripe's scheme (`t=…,v1=…`, HMAC-SHA256 over
///   `"{t}.{body}"`, the source's `tolerance_s` either way) under the named header.
/// - `{"type": "basic"}`: HTTP Basic credentials, each secret being `user:password` (Chargebee
///   authenticates its webhooks this way).
public enum MappedVerifier: Sendable, Equatable {
    case hmac(header: String, algorithm: WebhookSignature.HMACAlgorithm, encoding: Encoding, prefix: String)
    case timestamped(header: String)
    case basic

    public enum Encoding: String, Sendable, CaseIterable { case hex, base64 }

    /// Reads the configuration; errors name the field under `field`.
    public static func parse(_ value: JSONValue?, field: String) -> Result<MappedVerifier, FieldError> {
        guard let type = value?["type"]?.stringValue else {
            return .failure(FieldError("\(field).type", "must be hmac, timestamped or basic"))
        }
        func header() -> String? {
            guard let name = value?["header"]?.stringValue?.lowercased(), !name.isEmpty,
                  name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-") })
            else { return nil }
            return name
        }
        switch type {
        case "hmac":
            guard let name = header() else { return .failure(FieldError("\(field).header", "must name the header that carries the signature")) }
            let algorithmName = value?["algorithm"]?.stringValue ?? "sha256"
            guard let algorithm = WebhookSignature.HMACAlgorithm(rawValue: algorithmName) else {
                return .failure(FieldError("\(field).algorithm", "must be sha256, sha1 or sha512"))
            }
            guard let encoding = Encoding(rawValue: value?["encoding"]?.stringValue ?? "hex") else {
                return .failure(FieldError("\(field).encoding", "must be hex or base64"))
            }
            return .success(.hmac(header: name, algorithm: algorithm, encoding: encoding, prefix: value?["prefix"]?.stringValue ?? ""))
        case "timestamped":
            guard let name = header() else { return .failure(FieldError("\(field).header", "must name the header that carries the signature")) }
            return .success(.timestamped(header: name))
        case "basic":
            return .success(.basic)
        default:
            return .failure(FieldError("\(field).type", "must be hmac, timestamped or basic"))
        }
    }

    /// Checks a request (`headers` with lower-cased names). Throws the rejection.
    public func verify(headers: [String: String], body: [UInt8], secrets: [String], tolerance: TimeInterval,
                       now: Date) throws(InboundRejection) {
        switch self {
        case .hmac(let header, let algorithm, let encoding, let prefix):
            guard var value = headers[header], !value.isEmpty else { throw InboundRejection(.badRequest, "no \(header) header") }
            if !prefix.isEmpty {
                guard value.hasPrefix(prefix) else { throw InboundRejection(.badRequest, "\(header) does not start with \(prefix)") }
                value.removeFirst(prefix.count)
            }
            let decoded: [UInt8]? = switch encoding {
            case .hex: Hex.decode(value.lowercased())
            case .base64: Data(base64Encoded: value).map(Array.init)
            }
            guard let given = decoded else { throw InboundRejection(.badRequest, "\(header) is not \(encoding.rawValue)") }
            try WebhookSignature.hmac(given, over: body, secrets: secrets, algorithm: algorithm)
        case .timestamped(let header):
            try WebhookSignature.stripe(header: headers[header], body: body, secrets: secrets, tolerance: tolerance, now: now, name: header)
        case .basic:
            try WebhookSignature.basic(authorization: headers["authorization"], secrets: secrets)
        }
    }
}
