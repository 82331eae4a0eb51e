import Foundation

/// What a reconciliation is asked to compare: `{"mapping", "from", "to", "stale_after"?, "pull"?}`
/// — the body of `POST /v1/reconciliations` (or its query, when the body is the ERP's CSV), and
/// what `arbiter reconcile` builds. Read in one place so the server and the CLI refuse the same
/// things with the same words.
public struct ReconciliationRequest: Sendable, Equatable {
    /// The saved column mapping the ERP's file is read with (a pull: the target's name, its
    /// exceptions kept apart from other mappings').
    public var mapping: String
    /// Arbiter's side: money actions approved in [from, to).
    public var from: Date
    public var to: Date
    /// An action approved longer ago than this and still not delivered is stale.
    public var staleAfter: Int
    /// The time staleness is judged at (default: when the run starts): with it given, the same
    /// request on the same data gives the same report, byte for byte, whenever it runs.
    public var asOf: Date?
    /// A delivery target to pull the ERP's side from (NetSuite or Business Central), instead of a file.
    public var pull: String?

    public static let defaultStaleAfter = 72 * 3600

    public init(mapping: String, from: Date, to: Date, staleAfter: Int = defaultStaleAfter, asOf: Date? = nil, pull: String? = nil) {
        self.asOf = asOf
        self.mapping = mapping
        self.from = from
        self.to = to
        self.staleAfter = staleAfter
        self.pull = pull
    }

    /// Reads a request; every problem is named by its field. `pull` is refused when `upload` (the
    /// ERP's file is the body).
    public static func parse(_ body: [String: JSONValue], upload: Bool) throws -> ReconciliationRequest {
        var errors = RequestFields.unknown(body, allowed: upload ? ["mapping", "from", "to", "stale_after", "as_of"]
                                                                 : ["mapping", "from", "to", "stale_after", "as_of", "pull"])
        // A pull's mapping is the target's own unless one is named: its exceptions are the target's.
        let mapping = body["mapping"]?.stringValue ?? (upload ? nil : body["pull"]?.stringValue)
        if mapping == nil || mapping?.isEmpty == true || !(mapping.map(Self.isName) ?? false) {
            errors.append(FieldError("mapping", body["mapping"] == nil
                                     ? "is required: the name of a saved column mapping"
                                     : "must be a mapping's name (letters, digits, '-', '_', '.')"))
        }
        let from = RequestFields.time(body, "from", &errors), to = RequestFields.time(body, "to", &errors)
        if let from, let to, from >= to { errors.append(FieldError("to", "must be after from")) }
        var staleAfter = defaultStaleAfter
        switch body["stale_after"] {
        case nil, .null?: break
        case .string(let text)? where DurationText.seconds(text) != nil: staleAfter = DurationText.seconds(text)!
        default: errors.append(FieldError("stale_after", "must be a duration such as 72h, 3d or 90m"))
        }
        var asOf: Date?
        switch body["as_of"] {
        case nil, .null?: break
        case .string(let text)? where Timestamp.parse(text) != nil: asOf = Timestamp.parse(text)
        default: errors.append(FieldError("as_of", "must be an RFC 3339 timestamp: the time staleness is judged at"))
        }
        var pull: String?
        switch body["pull"] {
        case nil, .null?: break
        case .string(let text)? where !text.isEmpty: pull = text
        default: errors.append(FieldError("pull", "must be the name of a delivery target to pull the ERP's records from"))
        }
        if !upload, pull == nil, errors.isEmpty {
            errors.append(FieldError("pull", "is required in a JSON body (or send the ERP's CSV as the body, text/csv, with the fields as query parameters)"))
        }
        guard errors.isEmpty, let mapping, let from, let to else { throw Refusal.invalid(errors) }
        return ReconciliationRequest(mapping: mapping, from: from, to: to, staleAfter: staleAfter, asOf: asOf, pull: pull)
    }

    /// Mapping names are file names too: nothing that walks out of a directory.
    public static func isName(_ text: String) -> Bool {
        !text.isEmpty && text.count <= 100 && !text.hasPrefix(".")
            && text.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) && $0.isASCII || "-_.".unicodeScalars.contains($0) }
    }

    public var json: JSONValue {
        var fields: [String: JSONValue] = ["mapping": .string(mapping), "from": .string(Timestamp.format(from)),
                                           "to": .string(Timestamp.format(to)), "stale_after": .string("\(staleAfter)s")]
        if let pull { fields["pull"] = .string(pull) }
        if let asOf { fields["as_of"] = .string(Timestamp.format(asOf)) }
        return .object(fields)
    }
}
