import ArbiterCore

/// An event as Arbiter stored it: the envelope exactly as it was sent, with what Arbiter
/// recorded about its arrival. Times are RFC 3339 text as stored.
public struct StoredEvent: Sendable, Hashable {
    public var id: String
    public var source: String
    /// The sender's own id for the event (unique per source: resubmissions are found by it).
    public var externalId: String
    public var type: String
    public var accountId: String
    public var correlationId: String
    public var occurredAt: String
    public var receivedAt: String
    public var submittedBy: String
    public var bodySHA256: String
    /// The event as sent.
    public var envelope: JSONValue
    public var decisionId: String?

    public init(id: String, source: String, externalId: String, type: String, accountId: String, correlationId: String,
                occurredAt: String, receivedAt: String, submittedBy: String, bodySHA256: String, envelope: JSONValue,
                decisionId: String?) {
        self.id = id
        self.source = source
        self.externalId = externalId
        self.type = type
        self.accountId = accountId
        self.correlationId = correlationId
        self.occurredAt = occurredAt
        self.receivedAt = receivedAt
        self.submittedBy = submittedBy
        self.bodySHA256 = bodySHA256
        self.envelope = envelope
        self.decisionId = decisionId
    }
}
