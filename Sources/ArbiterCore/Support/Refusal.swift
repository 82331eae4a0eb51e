/// Why the service will not do what was asked. The one error a use case throws for a request
/// it cannot meet — an unknown id, a state that does not allow it, a control that forbids it,
/// input that breaks a rule — so the edge maps it to a response in one place (the server: to
/// `application/problem+json`; the CLI: to a message and an exit status). Anything else thrown is
/// a failure of the service, never the caller's doing.
public struct Refusal: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// No such thing (HTTP 404).
        case notFound
        /// Its state does not allow it: already decided, claimed by someone else, not a dead
        /// letter (HTTP 409).
        case conflict
        /// A control forbids it for this caller: self-review, an approval limit, four-eyes (HTTP 403).
        case forbidden
        /// The request breaks a rule; `errors` names every field (HTTP 422).
        case invalid
    }

    public let kind: Kind
    /// What happened and what to do about it, for a person.
    public let message: String
    /// For ``Kind/invalid``: each offending field and its rule.
    public let errors: [FieldError]
    /// A short summary when the kind alone says too little ("Idempotency conflict").
    public let title: String?

    public init(_ kind: Kind, _ message: String, errors: [FieldError] = [], title: String? = nil) {
        self.kind = kind
        self.message = message
        self.errors = errors
        self.title = title
    }

    public static func notFound(_ message: String) -> Refusal { Refusal(.notFound, message) }
    public static func conflict(_ message: String, title: String? = nil) -> Refusal { Refusal(.conflict, message, title: title) }
    public static func forbidden(_ message: String) -> Refusal { Refusal(.forbidden, message) }

    /// Input that breaks the rules, naming every offending field.
    public static func invalid(_ errors: [FieldError], title: String? = nil, message: String? = nil) -> Refusal {
        Refusal(.invalid, message ?? errors.map(\.description).joined(separator: "; "), errors: errors, title: title)
    }

    /// One field that breaks a rule.
    public static func invalid(_ field: String, _ message: String) -> Refusal {
        invalid([FieldError(field, message)])
    }

    public var description: String { message }
}
