import ArbiterCore
import Foundation

/// Which entries ``AuditStore/entries(_:)`` returns: after `afterSeq`, oldest first, at most
/// `limit`, each filter exact when given.
public struct AuditFilter: Sendable {
    public var afterSeq: Int64 = 0
    public var limit = 100
    public var kind: String?
    public var actor: String?
    public var subject: String?
    public var correlationId: String?
    /// Entries with `at` in [from, to) (RFC 3339 as stored).
    public var from: String?
    public var to: String?

    public init() {}
}

extension AuditFilter {
    /// Reads a filter as the API and the console take it (`after_seq`, `limit`, `kind`, `actor`,
    /// `subject`, `correlation_id`, `from`, `to`); errors name the field. A form's empty fields
    /// are left out by the caller (the console): here an empty time is an error.
    public static func parse(_ query: [String: String]) throws -> AuditFilter {
        var errors: [FieldError] = []
        var filter = AuditFilter()
        let given = query
        if let after = given["after_seq"] {
            if let n = Int64(after), n >= 0 { filter.afterSeq = n }
            else { errors.append(FieldError("after_seq", "must be a non-negative integer (an entry's seq)")) }
        }
        filter.limit = RequestFields.limit(given["limit"].map { Substring($0) }, default: 100, &errors)
        filter.kind = given["kind"]
        filter.actor = given["actor"]
        filter.subject = given["subject"]
        filter.correlationId = given["correlation_id"]
        for field in ["from", "to"] {
            guard let text = given[field] else { continue }
            guard let time = Timestamp.parse(text) else {
                errors.append(FieldError(field, "must be an RFC 3339 timestamp such as 2026-11-01T00:00:00Z"))
                continue
            }
            if field == "from" { filter.from = Timestamp.format(time) } else { filter.to = Timestamp.format(time) }
        }
        if let from = filter.from, let to = filter.to, from >= to { errors.append(FieldError("to", "must be after from")) }
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        return filter
    }
}

