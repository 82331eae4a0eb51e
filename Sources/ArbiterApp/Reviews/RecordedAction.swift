import ArbiterCore

/// An action as a decision recorded it (or as it was queued for the ERP): the fields every
/// action has, typed, and all of them as the policy gave them, for what varies by type (memo,
/// payment, feature…).
public struct RecordedAction: Sendable, Hashable {
    public var id: String?
    public var type: String
    public var amountMinor: Int64?
    public var currency: String?
    /// Every field as recorded (`id`, `type` and money included).
    public var fields: [String: JSONValue]

    public init(fields: [String: JSONValue]) {
        self.fields = fields
        id = fields["id"]?.stringValue
        type = fields["type"]?.stringValue ?? ""
        amountMinor = fields["amount_minor"]?.intValue
        currency = fields["currency"]?.stringValue
    }

    /// The fields beyond type and money (what the reviewer reads as details).
    public var details: [(key: String, value: JSONValue)] {
        fields.filter { !["id", "type", "amount_minor", "currency", "proposed_amount_minor"].contains($0.key) }
            .sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}
