import Foundation

/// What a mapping script's `map(request)` returned, read as an ``InboundMapping``:
///
/// - `ignore(reason)` → ignored; `reject(reason)` → failed (a dead letter);
/// - `event{...}` or a list of them → events: `id` (the idempotency key), `type`, `payload`,
///   `customer = {system, ref}` (resolved through the accounts' `external_refs`) or
///   `account_id`, and optionally `occurred_at` (RFC 3339 or Unix seconds; default: when the message came) and
///   `order = {key, at}` (updates of one object applied in the order of `at`);
/// - `account{...}` (in the list or alone) → an account update: `id` or `customer`, and the
///   fields to change, as the account sync API takes them.
///
/// Anything else is a reject naming where in the result it went wrong: a script's mistake never
/// becomes a decision.
public enum ScriptMapping {
    public static func interpret(_ result: JSONValue, receivedAt: Date) -> InboundMapping {
        if let outcome = result["outcome"]?.stringValue {
            switch outcome {
            case "ignore": return .ignore(result["reason"]?.stringValue ?? "ignored by the mapping")
            case "reject":
                let reasons = result["reasons"]?.arrayValue?.compactMap(\.stringValue) ?? []
                return .reject(reasons.isEmpty ? (result["reason"]?.stringValue ?? "rejected by the mapping") : reasons.joined(separator: "; "))
            default:
                return .reject("map returned a decision (\(outcome)), not events: use event{...}, account{...}, ignore(reason) or reject(reason)")
            }
        }
        let items: [(JSONValue, String)]
        switch result {
        case .array(let list): items = list.enumerated().map { ($1, "result[\($0 + 1)]") }
        case .object: items = [(result, "result")]
        default: return .reject("map must return a table")
        }
        if items.isEmpty { return .ignore("the mapping returned no events") }
        var accounts: [MappedAccount] = [], events: [MappedEvent] = []
        for (item, path) in items {
            if let account = item["account"] {
                switch Self.account(account, path: "\(path).account") {
                case .success(let update): accounts.append(update)
                case .failure(let error): return .reject(error.description)
                }
            } else {
                switch Self.event(item, path: path, receivedAt: receivedAt) {
                case .success(let event): events.append(event)
                case .failure(let error): return .reject(error.description)
                }
            }
        }
        return accounts.isEmpty ? .events(events) : .accounts(accounts, events: events)
    }

    static func text(_ value: JSONValue?, max: Int = 200) -> String? {
        guard let text = value?.stringValue, !text.isEmpty, text.schemaLength <= max else { return nil }
        return text
    }

    static func customer(_ value: JSONValue?) -> CustomerRef? {
        guard let system = text(value?["system"], max: 64), let ref = text(value?["ref"]) else { return nil }
        return CustomerRef(system: system, ref: ref)
    }

    static func event(_ item: JSONValue, path: String, receivedAt: Date) -> Result<MappedEvent, FieldError> {
        guard item.objectValue != nil else { return .failure(FieldError(path, "must be an event{...} or account{...} table")) }
        guard let id = text(item["id"]) else { return .failure(FieldError("\(path).id", "must be the event's id, 1-200 characters")) }
        guard let name = item["type"]?.stringValue, let type = EventType(rawValue: name) else {
            return .failure(FieldError("\(path).type", "must be one of \(EventType.allCases.map(\.rawValue).joined(separator: ", "))"))
        }
        guard let payload = item["payload"]?.objectValue else { return .failure(FieldError("\(path).payload", "must be a table")) }
        var occurredAt = receivedAt
        switch item["occurred_at"] {
        case nil, .null?: break
        case .int(let seconds)? where (0...253_402_300_799).contains(seconds): occurredAt = Date(timeIntervalSince1970: TimeInterval(seconds))
        case .string(let text)? where Timestamp.parse(text) != nil: occurredAt = Timestamp.parse(text)!
        default: return .failure(FieldError("\(path).occurred_at", "must be an RFC 3339 time or Unix seconds"))
        }
        let accountId = text(item["account_id"])
        let customer = customer(item["customer"])
        if item["customer"] != nil && customer == nil {
            return .failure(FieldError("\(path).customer", "must be {system = ..., ref = ...}"))
        }
        guard accountId != nil || customer != nil else {
            return .failure(FieldError(path, "names no account: give account_id or customer = {system, ref}"))
        }
        var ordering: MappedEvent.Ordering?
        if let order = item["order"], order != .null {
            guard let key = text(order["key"]), let at = order["at"]?.intValue else {
                return .failure(FieldError("\(path).order", "must be {key = text, at = integer}"))
            }
            ordering = .init(key: key, at: at)
        }
        return .success(MappedEvent(id: id, type: type, occurredAt: occurredAt, customer: customer, accountId: accountId,
                                    payload: payload, ordering: ordering))
    }

    static func account(_ value: JSONValue, path: String) -> Result<MappedAccount, FieldError> {
        guard var fields = value.objectValue else { return .failure(FieldError(path, "must be a table")) }
        let id = text(fields.removeValue(forKey: "id"))
        let customer = customer(fields.removeValue(forKey: "customer"))
        guard id != nil || customer != nil else {
            return .failure(FieldError(path, "names no account: give id or customer = {system, ref}"))
        }
        return .success(MappedAccount(id: id, customer: customer, fields: fields))
    }
}
