import ArbiterCore

/// Everything a reviewer needs to decide an item: the event, the context it was decided on,
/// every policy's verdict, the proposed (and, once approved, the queued) actions, and the
/// item's history.
public struct ReviewItemDetail: Sendable, Hashable {
    /// One step in the item's history.
    public struct Step: Sendable, Hashable {
        public var at: String
        /// A key id, or `system`.
        public var actor: String
        public var actorName: String?
        /// claimed, released, approved, rejected, reassigned, claim_expired, escalated.
        public var action: String
        public var comment: String?
        /// An approval's (lower) amount.
        public var amountMinor: Int64?
        /// Who a reassignment gave the item to.
        public var assignee: String?

        public init(at: String, actor: String, actorName: String?, action: String, comment: String?, amountMinor: Int64?,
                    assignee: String?) {
            self.at = at
            self.actor = actor
            self.actorName = actorName
            self.action = action
            self.comment = comment
            self.amountMinor = amountMinor
            self.assignee = assignee
        }
    }

    public var summary: ReviewItemSummary
    public var correlationId: String
    public var submittedByName: String?
    public var event: StoredEvent?
    /// The account and history the policies saw.
    public var context: PolicyContext?
    /// Every policy's verdict as recorded.
    public var verdicts: [PolicyResult]
    public var proposedActions: [RecordedAction]
    /// The money the actions propose, when they move money in one currency.
    public var proposedAmountMinor: Int64?
    public var queuedActions: [QueuedAction]
    public var history: [Step]

    public init(summary: ReviewItemSummary, correlationId: String, submittedByName: String?, event: StoredEvent?,
                context: PolicyContext?, verdicts: [PolicyResult], proposedActions: [RecordedAction], proposedAmountMinor: Int64?,
                queuedActions: [QueuedAction], history: [Step]) {
        self.summary = summary
        self.correlationId = correlationId
        self.submittedByName = submittedByName
        self.event = event
        self.context = context
        self.verdicts = verdicts
        self.proposedActions = proposedActions
        self.proposedAmountMinor = proposedAmountMinor
        self.queuedActions = queuedActions
        self.history = history
    }

    /// The approvals given so far, oldest first.
    public var approvals: [Step] { history.filter { $0.action == "approved" } }
}
