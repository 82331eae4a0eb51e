import ArbiterCore

/// A money action as reconciliation reads it from the outbox.
public struct MoneyActionRow: Sendable {
    public var id: String
    public var type: String
    public var amountMinor: Int64
    public var currency: String
    public var status: String
    public var createdAt: String
    public var erpReference: String?

    public init(id: String, type: String, amountMinor: Int64, currency: String, status: String, createdAt: String, erpReference: String?) {
        self.id = id
        self.type = type
        self.amountMinor = amountMinor
        self.currency = currency
        self.status = status
        self.createdAt = createdAt
        self.erpReference = erpReference
    }
}
