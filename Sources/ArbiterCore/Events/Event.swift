import Foundation

/// An event as submitted: the canonical envelope plus its payload, validated against the catalog.
public struct Event: Sendable, Hashable {
    /// The producer's id; with `source` it is the idempotency key.
    public let id: String
    public let type: EventType
    public let source: String
    public let occurredAt: Date
    /// `occurred_at` exactly as submitted.
    public let occurredAtText: String
    public let accountId: String
    public let correlationId: String
    public let payload: [String: JSONValue]
    /// The envelope exactly as submitted (what policies see as `event`).
    public let envelope: JSONValue

    /// The money the event is about, when its type carries `amount_minor` and `currency`.
    public var money: Money? {
        guard let amount = payload["amount_minor"]?.intValue,
              let code = payload["currency"]?.stringValue, let currency = Currency(code)
        else { return nil }
        return Money(amountMinor: amount, currency: currency)
    }

    /// What ends a line (Unicode's mandatory breaks): an envelope's text fields hold one line.
    static let lineBreaks: Set<Unicode.Scalar> = ["\n", "\r", "\u{0B}", "\u{0C}", "\u{85}", "\u{2028}", "\u{2029}"]

    static let envelopeFields: Set<String> = ["id", "type", "source", "occurred_at", "account_id", "correlation_id", "payload"]

    /// Validates a parsed envelope field by field; throws a Refusal naming every bad field.
    public init(envelope: JSONValue) throws {
        guard case .object(let fields) = envelope else {
            throw Refusal.invalid([FieldError("", "the event must be a JSON object")])
        }
        var errors: [FieldError] = []
        func text(_ name: String, max: Int = 200) -> String? {
            switch fields[name] {
            case nil, .null?:
                errors.append(FieldError(name, "is required"))
            case .string(let s)?:
                // One line, its length as the API counts it (String.schemaLength).
                if s.isEmpty || s.schemaLength > max || s.unicodeScalars.contains(where: Event.lineBreaks.contains) {
                    errors.append(FieldError(name, "must be 1-\(max) characters on one line"))
                } else {
                    return s
                }
            case let other?:
                errors.append(FieldError(name, "must be a string, got \(other.typeName)"))
            }
            return nil
        }
        for key in fields.keys.sorted() where !Event.envelopeFields.contains(key) {
            errors.append(FieldError(key, "is not an envelope field (put event data in payload)"))
        }
        let id = text("id")
        var type: EventType?
        if let name = text("type", max: 64) {
            type = EventType(rawValue: name)
            if type == nil {
                errors.append(FieldError("type", "unknown event type '\(name)'; known: \(EventType.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
        }
        let source = text("source", max: 100)
        var occurredAt: Date?
        let occurredAtText = text("occurred_at", max: 64)
        if let raw = occurredAtText {
            occurredAt = Timestamp.parse(raw)
            if occurredAt == nil { errors.append(FieldError("occurred_at", "must be an RFC 3339 timestamp such as 2026-11-22T10:00:00Z")) }
        }
        let accountId = text("account_id")
        let correlationId = text("correlation_id")
        var payload: [String: JSONValue] = [:]
        switch fields["payload"] {
        case .object(let p)?:
            payload = p
            if let type { errors += Event.validate(payload: p, rules: type.payloadRules) }
        case nil, .null?:
            errors.append(FieldError("payload", "is required"))
        case let other?:
            errors.append(FieldError("payload", "must be an object, got \(other.typeName)"))
        }
        guard errors.isEmpty, let id, let type, let source, let occurredAt, let occurredAtText, let accountId, let correlationId else {
            throw Refusal.invalid(errors)
        }
        self.id = id
        self.type = type
        self.source = source
        self.occurredAt = occurredAt
        self.occurredAtText = occurredAtText
        self.accountId = accountId
        self.correlationId = correlationId
        self.payload = payload
        self.envelope = envelope
    }

    static func validate(payload: [String: JSONValue], rules: [PayloadRule]) -> [FieldError] {
        var errors: [FieldError] = []
        func field(_ name: String) -> String { "payload." + name }
        func checkText(_ name: String, required: Bool) {
            switch payload[name] {
            case nil, .null?:
                if required { errors.append(FieldError(field(name), "is required")) }
            case .string(let s)?:
                if s.isEmpty || s.schemaLength > 2000 { errors.append(FieldError(field(name), "must be 1-2000 characters")) }
            case let other?:
                errors.append(FieldError(field(name), "must be a string, got \(other.typeName)"))
            }
        }
        func checkChoice(_ name: String, _ choices: [String], required: Bool) {
            switch payload[name] {
            case nil, .null?:
                if required { errors.append(FieldError(field(name), "is required")) }
            case .string(let s)? where choices.contains(s):
                break
            default:
                errors.append(FieldError(field(name), "must be one of \(choices.joined(separator: ", "))"))
            }
        }
        func checkInteger(_ name: String, minimum: Int64, describe: String) {
            switch payload[name]?.integralAsInt {
            case nil, .null?:
                errors.append(FieldError(field(name), "is required"))
            case .int(let v)?:
                if v < minimum { errors.append(FieldError(field(name), "must be \(describe), got \(v)")) }
                else if v > Money.maximumMinorUnits { errors.append(FieldError(field(name), "must be at most \(Money.maximumMinorUnits)")) }
            case .double(let d)?:
                errors.append(FieldError(field(name), d.isFinite && abs(d) >= 9.2e18
                    ? "is too large (must be at most \(Money.maximumMinorUnits))"
                    : "must be an integer (money is integer minor units), got \(d)"))
            case let other?:
                errors.append(FieldError(field(name), "must be an integer, got \(other.typeName)"))
            }
        }
        func checkCurrency() {
            switch payload["currency"] {
            case nil, .null?:
                errors.append(FieldError(field("currency"), "is required"))
            case .string(let code)?:
                if Currency(code) == nil { errors.append(FieldError(field("currency"), "must be an ISO 4217 currency code such as USD, got '\(code)'")) }
            case let other?:
                errors.append(FieldError(field("currency"), "must be a string, got \(other.typeName)"))
            }
        }
        for rule in rules {
            switch rule {
            case .money:
                checkInteger("amount_minor", minimum: 1, describe: "a positive integer number of minor units")
                checkCurrency()
            case .currency: checkCurrency()
            case .text(let name): checkText(name, required: true)
            case .optionalText(let name): checkText(name, required: false)
            case .choice(let name, let choices): checkChoice(name, choices, required: true)
            case .optionalChoice(let name, let choices): checkChoice(name, choices, required: false)
            case .count(let name): checkInteger(name, minimum: 1, describe: "a positive integer")
            case .nonNegativeMinor(let name): checkInteger(name, minimum: 0, describe: "zero or a positive integer")
            }
        }
        return errors
    }
}
