import Foundation

/// What an auditor asks to export: `{"kind", "from", "to", "format", "filters"}` — the body of
/// `POST /v1/exports`, and what `arbiter audit export --db` builds. Read in one place so the
/// server and the CLI refuse the same things with the same words.
public struct ExportRequest: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// Audit entries with `at` in the range, in `seq` order.
        case audit
        /// Decisions with `decided_at` in the range, oldest first.
        case decisions
    }

    public enum Format: String, Sendable, CaseIterable {
        case jsonl, csv

        /// The content type the file is served with.
        public var contentType: String { self == .jsonl ? "application/x-ndjson" : "text/csv; charset=utf-8; header=present" }
    }

    /// Which rows: each filter given must match. `actor` is the audit entry's actor, or the
    /// decision's submitter (an API key id); `kind` is the audit entry's kind; `outcome`,
    /// `queue`, `policy` (a policy that took part) and `account_id` select decisions.
    public struct Filters: Sendable, Equatable {
        public var actor: String?
        public var kind: String?
        public var outcome: String?
        public var queue: String?
        public var policy: String?
        public var accountId: String?

        public init(actor: String? = nil, kind: String? = nil, outcome: String? = nil, queue: String? = nil,
                    policy: String? = nil, accountId: String? = nil) {
            self.actor = actor
            self.kind = kind
            self.outcome = outcome
            self.queue = queue
            self.policy = policy
            self.accountId = accountId
        }

        public var isEmpty: Bool { json.isEmpty }

        /// The filters given, as the manifest records them.
        public var json: [String: JSONValue] {
            var fields: [String: JSONValue] = [:]
            for (name, value) in [("actor", actor), ("kind", kind), ("outcome", outcome), ("queue", queue), ("policy", policy),
                                  ("account_id", accountId)] {
                if let value { fields[name] = .string(value) }
            }
            return fields
        }
    }

    public var kind: Kind
    public var format: Format
    public var from: Date
    public var to: Date
    public var filters: Filters

    public init(kind: Kind, format: Format = .jsonl, from: Date, to: Date, filters: Filters = Filters()) {
        self.kind = kind
        self.format = format
        self.from = from
        self.to = to
        self.filters = filters
    }

    /// The filters each kind accepts.
    static func allowedFilters(_ kind: Kind) -> [String] {
        switch kind {
        case .audit: ["actor", "kind"]
        case .decisions: ["outcome", "queue", "policy", "account_id", "actor"]
        }
    }

    /// Reads a request body; every problem is named by its field.
    public static func parse(_ body: [String: JSONValue]) throws -> ExportRequest {
        var errors = RequestFields.unknown(body, allowed: ["kind", "from", "to", "format", "filters"])
        let kind = body["kind"]?.stringValue.flatMap(Kind.init(rawValue:))
        if kind == nil { errors.append(FieldError("kind", body["kind"] == nil ? "is required: decisions or audit" : "must be decisions or audit")) }
        var format = Format.jsonl
        switch body["format"] {
        case nil, .null?: break
        case .string(let text)? where Format(rawValue: text) != nil: format = Format(rawValue: text)!
        default: errors.append(FieldError("format", "must be jsonl or csv"))
        }
        let from = RequestFields.time(body, "from", &errors), to = RequestFields.time(body, "to", &errors)
        if let from, let to, from >= to { errors.append(FieldError("to", "must be after from")) }
        var filters = Filters()
        switch body["filters"] {
        case nil, .null?: break
        case .object(let given)?:
            let allowed = kind.map(allowedFilters) ?? []
            for (name, value) in given.sorted(by: { $0.key < $1.key }) {
                guard allowed.contains(name) else {
                    let which = kind.map { "\($0.rawValue) exports filter by \(allowedFilters($0).joined(separator: ", "))" } ?? "see kind"
                    errors.append(FieldError("filters.\(name)", "is not a filter of this kind (\(which))"))
                    continue
                }
                guard case .string(let text) = value, !text.isEmpty else {
                    errors.append(FieldError("filters.\(name)", "must be a non-empty string"))
                    continue
                }
                switch name {
                case "actor": filters.actor = text
                case "kind": filters.kind = text
                case "outcome":
                    if DecisionOutcome(rawValue: text) == nil {
                        errors.append(FieldError("filters.outcome", "must be approve, review, reject or recorded"))
                    }
                    filters.outcome = text
                case "queue": filters.queue = text
                case "policy": filters.policy = text
                default: filters.accountId = text
                }
            }
        default: errors.append(FieldError("filters", "must be an object"))
        }
        guard errors.isEmpty, let kind, let from, let to else { throw Refusal.invalid(errors) }
        return ExportRequest(kind: kind, format: format, from: from, to: to, filters: filters)
    }

    /// The request as a body for `POST /v1/exports`.
    public var json: JSONValue {
        .object(["kind": .string(kind.rawValue), "format": .string(format.rawValue), "from": .string(Timestamp.format(from)),
                 "to": .string(Timestamp.format(to)), "filters": .object(filters.json)])
    }

    /// The export file's name in its directory: `audit.jsonl`, `decisions.csv`, …
    public var fileName: String { "\(kind.rawValue).\(format.rawValue)" }

    /// The CSV header of each kind.
    public static func csvColumns(_ kind: Kind) -> [String] {
        switch kind {
        case .audit: ExportedAuditEntry.csvColumns
        case .decisions: DecisionExportRow.columns
        }
    }
}
