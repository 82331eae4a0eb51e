import ArbiterCore
import Foundation

/// An account as the sync API takes it (`PUT /v1/accounts/{id}`, and a mapped source's
/// `account{...}`): the one place its fields are checked.
public enum AccountSyncRequest {
    /// `external_refs`: the account's ids in other systems, `{"stripe": "cus_…", "zendesk_org": "…"}`.
    public static func externalRefs(_ value: JSONValue?) throws -> [String: String]? {
        guard let value, value != .null else { return nil }
        guard let object = value.objectValue else { throw Refusal.invalid("external_refs", "must be an object of system → id") }
        var refs: [String: String] = [:], errors: [FieldError] = []
        for (system, ref) in object.sorted(by: { $0.key < $1.key }) {
            let validSystem = (1...64).contains(system.count)
                && system.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
            if !validSystem { errors.append(FieldError("external_refs.\(system)", "a system's name is 1-64 of a-z, 0-9 and _")) }
            guard let text = ref.stringValue, !text.isEmpty, text.schemaLength <= 200,
                  !text.unicodeScalars.contains(where: { $0.properties.isWhitespace }) else {
                errors.append(FieldError("external_refs.\(system)", "must be an id of 1-200 characters without spaces"))
                continue
            }
            if validSystem { refs[system] = text }
        }
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        return refs
    }


    public static func snapshot(id: String, from body: [String: JSONValue]) throws -> AccountSnapshot {
        var errors: [FieldError] = []
        let known: Set<String> = ["status", "tier", "mrr_minor", "currency", "open_balance_minor", "days_past_due", "entitlements",
                                  "external_refs"]
        for key in body.keys.sorted() where !known.contains(key) { errors.append(FieldError(key, "is not an account field")) }
        var account = AccountSnapshot(id: id)
        let statuses = AccountStatus.allCases.filter { $0 != .unknown }.map(\.rawValue)
        if let status = body["status"]?.stringValue.flatMap(AccountStatus.init(rawValue:)), status != .unknown {
            account.status = status
        } else {
            errors.append(FieldError("status", "is required: one of \(statuses.joined(separator: ", "))"))
        }
        switch body["tier"] {
        case nil, .null?: break
        case .string(let s)? where !s.isEmpty && s.schemaLength <= 64: account.tier = s
        default: errors.append(FieldError("tier", "must be a string of 1-64 characters"))
        }
        switch body["currency"] {
        case nil, .null?: break
        case .string(let code)? where Currency(code) != nil: account.currency = code
        default: errors.append(FieldError("currency", "must be an ISO 4217 currency code such as USD"))
        }
        func integer(_ key: String, minimum: Int64) -> Int64 {
            switch body[key]?.integralAsInt {
            case nil, .null?: return 0
            case .int(let v)? where v >= minimum && abs(v) <= Money.maximumMinorUnits: return v
            default:
                errors.append(FieldError(key, minimum >= 0 ? "must be an integer from 0 to \(Money.maximumMinorUnits)"
                                                            : "must be an integer of at most \(Money.maximumMinorUnits) in magnitude"))
                return 0
            }
        }
        account.mrrMinor = integer("mrr_minor", minimum: 0)
        account.openBalanceMinor = integer("open_balance_minor", minimum: -Money.maximumMinorUnits)
        account.daysPastDue = integer("days_past_due", minimum: 0)
        switch body["entitlements"] {
        case nil, .null?: break
        case .array(let items)? where items.allSatisfy({ ($0.stringValue?.isEmpty == false) }):
            account.entitlements = Array(Set(items.compactMap(\.stringValue))).sorted()
        default: errors.append(FieldError("entitlements", "must be an array of non-empty strings"))
        }
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        return account
    }
}
