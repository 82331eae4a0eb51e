/// An action a policy proposes, validated: known type, positive amount, known currency.
public struct ProposedAction: Sendable, Hashable {
    public let type: ActionType
    /// Present exactly when the type moves money.
    public let money: Money?
    /// Every field as the policy gave it (type included), for the ERP payload.
    public let fields: [String: JSONValue]

    /// Validates an action table from a policy. `index` is its position, for messages.
    public init(fields: [String: JSONValue], index: Int) throws {
        let path = "actions[\(index)]"
        guard let name = fields["type"]?.stringValue else {
            throw Refusal.invalid([FieldError("\(path).type", "is required (build actions with credit_memo{...}, refund{...}, ...)")])
        }
        guard let type = ActionType(rawValue: name) else {
            throw Refusal.invalid([FieldError("\(path).type", "unknown action type '\(name)'; known: \(ActionType.allCases.map(\.rawValue).joined(separator: ", "))")])
        }
        var errors: [FieldError] = []
        var money: Money?
        if type.movesMoney {
            var amount: Int64?
            switch fields["amount_minor"]?.integralAsInt {
            case .int(let v)?:
                if v <= 0 { errors.append(FieldError("\(path).amount_minor", "must be a positive integer, got \(v)")) }
                else if v > Money.maximumMinorUnits { errors.append(FieldError("\(path).amount_minor", "must be at most \(Money.maximumMinorUnits)")) }
                else { amount = v }
            case nil:
                errors.append(FieldError("\(path).amount_minor", "is required for \(name)"))
            case let other?:
                errors.append(FieldError("\(path).amount_minor", "must be an integer number of minor units, got \(other.typeName)"))
            }
            var currency: Currency?
            switch fields["currency"] {
            case .string(let code)?:
                currency = Currency(code)
                if currency == nil { errors.append(FieldError("\(path).currency", "must be an ISO 4217 currency code, got '\(code)'")) }
            case nil:
                errors.append(FieldError("\(path).currency", "is required for \(name)"))
            case let other?:
                errors.append(FieldError("\(path).currency", "must be a string, got \(other.typeName)"))
            }
            if let amount, let currency { money = Money(amountMinor: amount, currency: currency) }
        }
        if type.needsFeature {
            if fields["feature"]?.stringValue?.isEmpty ?? true {
                errors.append(FieldError("\(path).feature", "is required for \(name)"))
            }
        }
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        self.type = type
        self.money = money
        var fields = fields
        if let money { fields["amount_minor"] = .int(money.amountMinor) }   // 2500.0 from Lua is sent as 2500
        self.fields = fields
    }

    /// The action as JSON (its fields, type included).
    public var json: JSONValue { .object(fields) }
}
