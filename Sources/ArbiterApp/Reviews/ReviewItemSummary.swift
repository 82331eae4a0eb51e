import ArbiterCore

/// A review item as a queue lists it. Times are RFC 3339 text as stored.
public struct ReviewItemSummary: Sendable, Hashable {
    /// Who holds the item, while the claim holds.
    public struct Claim: Sendable, Hashable {
        public var by: String
        public var byName: String?
        public var expiresAt: String

        public init(by: String, byName: String?, expiresAt: String) {
            self.by = by
            self.byName = byName
            self.expiresAt = expiresAt
        }
    }

    public var id: String
    public var queue: String
    public var state: ReviewState
    public var accountId: String
    public var eventId: String
    public var decisionId: String
    public var eventType: String
    public var createdAt: String
    public var submittedBy: String
    public var slaDueAt: String?
    public var escalatedAt: String?
    public var escalatedFrom: String?
    public var decidedAt: String?
    public var decidedBy: String?
    /// The money the event asks for, when it asks for money.
    public var amountMinor: Int64?
    public var currency: String?
    /// Nil when nobody holds the item (an expired claim holds nothing).
    public var claim: Claim?
    public var approvalsRequired: Int
    public var approvalsGiven: Int
    /// A lower amount a reviewer approved.
    public var approvedAmountMinor: Int64?
    /// Why the policies sent it to review.
    public var reasons: [String]
    /// Waiting past its SLA.
    public var overdue: Bool

    public init(id: String, queue: String, state: ReviewState, accountId: String, eventId: String, decisionId: String,
                eventType: String, createdAt: String, submittedBy: String, slaDueAt: String?, escalatedAt: String?,
                escalatedFrom: String?, decidedAt: String?, decidedBy: String?, amountMinor: Int64?, currency: String?,
                claim: Claim?, approvalsRequired: Int, approvalsGiven: Int, approvedAmountMinor: Int64?, reasons: [String],
                overdue: Bool) {
        self.id = id
        self.queue = queue
        self.state = state
        self.accountId = accountId
        self.eventId = eventId
        self.decisionId = decisionId
        self.eventType = eventType
        self.createdAt = createdAt
        self.submittedBy = submittedBy
        self.slaDueAt = slaDueAt
        self.escalatedAt = escalatedAt
        self.escalatedFrom = escalatedFrom
        self.decidedAt = decidedAt
        self.decidedBy = decidedBy
        self.amountMinor = amountMinor
        self.currency = currency
        self.claim = claim
        self.approvalsRequired = approvalsRequired
        self.approvalsGiven = approvalsGiven
        self.approvedAmountMinor = approvedAmountMinor
        self.reasons = reasons
        self.overdue = overdue
    }
}
