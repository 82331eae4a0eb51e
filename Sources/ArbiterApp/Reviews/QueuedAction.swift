import ArbiterCore

/// An approved action in the outbox, as a review item shows it.
public struct QueuedAction: Sendable, Hashable {
    public var id: String
    public var type: String
    public var amountMinor: Int64?
    public var currency: String?
    public var status: String
    public var erpReference: String?

    public init(id: String, type: String, amountMinor: Int64?, currency: String?, status: String, erpReference: String?) {
        self.id = id
        self.type = type
        self.amountMinor = amountMinor
        self.currency = currency
        self.status = status
        self.erpReference = erpReference
    }
}
