import ArbiterCore
import Foundation

/// Where the decisions on a source's requests are answered (`answers` in its definition):
///
/// - a **Zendesk** source: `{"url": "https://acme.zendesk.com", "email": AGENT, "token": SECRET}` —
///   an internal note (a private comment) and tags on the ticket through the Tickets API
///   (`PUT /api/v2/tickets/{id}`), authenticated with an API token (`{email}/token:{token}`,
///   https://developer.zendesk.com/api-reference/introduction/security-and-auth/);
/// - a **mapped** source: `{"url": CALLBACK, "secret": SECRET}` — the answer as JSON POSTed to the
///   callback with `Idempotency-Key` and `Arbiter-Signature` (as Arbiter signs ERP deliveries).
///
/// `SECRET` is `{"env": NAME}`, `{"file": PATH}` or `{"value": TEXT}`, read when the definition
/// is loaded: rotating it is changing the source, without a restart.
public enum AnswerChannel: Sendable, Equatable {
    case zendesk(url: String, email: String, token: String?, origin: String)
    case callback(url: String, secret: String?, origin: String)

    public var url: String {
        switch self {
        case .zendesk(let url, _, _, _), .callback(let url, _, _): url
        }
    }

    /// Where its credential comes from (never the credential).
    public var origin: String {
        switch self {
        case .zendesk(_, _, _, let origin), .callback(_, _, let origin): origin
        }
    }

    /// Reads `answers`; the error names the field. `warning` says when the credential cannot be
    /// read here (answers then fail and wait as dead letters until it can).
    static func parse(_ value: JSONValue, kind: InboundSource.Kind, field: String, sealedAs name: String,
                      environment: [String: String], sealing: SecretSealing?) -> Result<(AnswerChannel, String?), FieldError> {
        guard let object = value.objectValue else { return .failure(FieldError(field, "must be an object")) }
        guard let url = object["url"]?.stringValue, let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""),
              parsed.host?.isEmpty == false else {
            return .failure(FieldError("\(field).url", "must be an http(s) URL"))
        }
        let base = url.hasSuffix("/") ? String(url.dropLast()) : url
        switch kind {
        case .stripe:
            return .failure(FieldError(field, "a stripe source takes no answers (Stripe has nowhere to show them)"))
        case .zendesk:
            let allowed: Set<String> = ["url", "email", "token"]
            if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
                return .failure(FieldError("\(field).\(unknown)", "is not part of a Zendesk source's answers (url, email, token)"))
            }
            guard let email = object["email"]?.stringValue, email.contains("@"), email.count <= 254 else {
                return .failure(FieldError("\(field).email", "must be the email of the agent whose API token is used"))
            }
            return SecretReference.read(object["token"] ?? .null, field: "\(field).token", sealedAs: name, environment: environment,
                                        sealing: sealing).map { read in
                (.zendesk(url: base, email: email, token: read.value, origin: read.origin),
                 read.value == nil ? "answers: the Zendesk API token (\(read.origin)) cannot be read; answers wait as dead letters" : nil)
            }
        case .mapped:
            let allowed: Set<String> = ["url", "secret"]
            if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
                return .failure(FieldError("\(field).\(unknown)", "is not part of a mapped source's answers (url, secret)"))
            }
            return SecretReference.read(object["secret"] ?? .null, field: "\(field).secret", sealedAs: name, environment: environment,
                                        sealing: sealing).map { read in
                (.callback(url: url, secret: read.value, origin: read.origin),
                 read.value == nil ? "answers: the callback's signing secret (\(read.origin)) cannot be read; answers wait as dead letters" : nil)
            }
        }
    }
}
