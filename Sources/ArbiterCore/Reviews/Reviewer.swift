import Foundation

/// The reviewer acting on an item, as the rules see it.
public struct Reviewer: Sendable, Hashable {
    public let id: String
    public let isAdmin: Bool
    /// The most money (minor units, all money actions of one item together) this reviewer may
    /// approve, by currency. Nil: no limit. Money in a currency missing here cannot be approved.
    public let approvalLimits: [String: Int64]?

    public init(id: String, isAdmin: Bool, approvalLimits: [String: Int64]?) {
        self.id = id
        self.isAdmin = isAdmin
        self.approvalLimits = approvalLimits
    }
}

extension Reviewer {
    /// Approval limits as the keys API takes them: `{"USD": 50000, "EUR": 40000}` (currency
    /// codes to non-negative minor units); errors name `field.<code>`.
    public static func limits(from json: JSONValue, field: String = "approval_limits") throws(Refusal) -> [String: Int64] {
        guard let object = json.objectValue, !object.isEmpty else {
            throw Refusal.invalid([FieldError(field, "must be an object of ISO 4217 currency code to minor units, e.g. {\"USD\": 50000}")])
        }
        var limits: [String: Int64] = [:]
        var errors: [FieldError] = []
        for (code, value) in object.sorted(by: { $0.key < $1.key }) {
            guard Currency(code) != nil else {
                errors.append(FieldError("\(field).\(code)", "is not an ISO 4217 currency code"))
                continue
            }
            guard case .int(let minor) = value.integralAsInt, minor >= 0, minor <= Money.maximumMinorUnits else {
                errors.append(FieldError("\(field).\(code)", "must be a non-negative integer number of minor units"))
                continue
            }
            limits[code] = minor
        }
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        return limits
    }

    /// One limit as the CLI takes it: `USD:50000`.
    public static func limit(flag: String) throws(Refusal) -> (currency: String, minor: Int64) {
        let parts = flag.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let minor = Int64(parts[1]) else {
            throw Refusal.invalid([FieldError("approval-limit", "\(flag): expected CURRENCY:MINOR, e.g. USD:50000")])
        }
        let limits = try Self.limits(from: .object([parts[0]: .int(minor)]), field: "approval-limit")
        return (parts[0], limits[parts[0]] ?? minor)
    }
}
