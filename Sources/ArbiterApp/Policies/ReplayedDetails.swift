import ArbiterCore

/// What a report shows of a replayed decision, read by row id once the replay is done.
public struct ReplayedDetails: Sendable {
    public let eventId: String
    public let decisionId: String
    public let receivedAt: String
    public let accountId: String
    public let amountMinor: Int64?
    public let currency: String?
    /// The decision's reasons (JSON text).
    public let reasons: String

    public init(eventId: String, decisionId: String, receivedAt: String, accountId: String, amountMinor: Int64?, currency: String?,
                reasons: String) {
        self.eventId = eventId
        self.decisionId = decisionId
        self.receivedAt = receivedAt
        self.accountId = accountId
        self.amountMinor = amountMinor
        self.currency = currency
        self.reasons = reasons
    }
}
