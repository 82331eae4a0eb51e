import Foundation

/// Rules shared by the routes that read optional fields and pages.
public enum RequestFields {
    /// `?limit=`: 1-500, `default` when absent; a bad value is a named error.
    public static func limit(_ query: Substring?, default value: Int = 50, _ errors: inout [FieldError]) -> Int {
        guard let query else { return value }
        if let n = Int(query), (1...500).contains(n) { return n }
        errors.append(FieldError("limit", "must be an integer from 1 to 500"))
        return value
    }

    /// A body field not in `allowed` is an error naming it (a typo must not be ignored).
    public static func unknown(_ body: [String: JSONValue], allowed: Set<String>) -> [FieldError] {
        body.keys.filter { !allowed.contains($0) }.sorted().map {
            FieldError($0, "unknown field (expected \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    /// A required time: an RFC 3339 string.
    public static func time(_ body: [String: JSONValue], _ field: String, _ errors: inout [FieldError]) -> Date? {
        guard case .string(let text)? = body[field], let date = Timestamp.parse(text) else {
            errors.append(FieldError(field, "is required: an RFC 3339 timestamp such as 2026-11-01T00:00:00Z"))
            return nil
        }
        return date
    }

    /// An optional comment: a string of at most 2,000 characters; blank reads as none.
    public static func comment(_ body: [String: JSONValue], _ errors: inout [FieldError]) -> String? {
        switch body["comment"] {
        case nil, .null?: return nil
        case .string(let text)?:
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if text.schemaLength > 2000 { errors.append(FieldError("comment", "must be at most 2000 characters")) }
            return trimmed.isEmpty ? nil : trimmed
        case let other?:
            errors.append(FieldError("comment", "must be a string, got \(other.typeName)"))
            return nil
        }
    }
}
