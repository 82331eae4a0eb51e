import Hummingbird

extension Request {
    /// The query's parameters by name, decoded (a repeated name: its last value) — what the
    /// requests parsed from a query (`AuditFilter`, `ReconciliationRequest`) read.
    var queryFields: [String: String] {
        var fields: [String: String] = [:]
        for (name, value) in uri.queryParameters { fields[String(name)] = String(value) }
        return fields
    }
}
