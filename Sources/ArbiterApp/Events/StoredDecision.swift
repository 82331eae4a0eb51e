import ArbiterCore

/// A decision as stored: outcome, reasons, actions, every policy's verdict, and (read one at a
/// time) the context it was made on. Times are RFC 3339 text as stored.
public struct StoredDecision: Sendable, Hashable {
    public var id: String
    public var eventId: String
    public var eventType: String
    public var accountId: String
    public var correlationId: String
    public var outcome: DecisionOutcome
    public var queue: String?
    public var reasons: [String]
    /// The actions with their ids (the outbox ids and ERP idempotency keys).
    public var actions: [RecordedAction]
    public var verdicts: [PolicyResult]
    public var decidedAt: String
    /// How long the policies took, in microseconds.
    public var durationMicros: Int64
    public var reviewId: String?
    public var reviewState: String?
    /// Nil in lists; set when one decision is read.
    public var context: PolicyContext?

    public init(id: String, eventId: String, eventType: String, accountId: String, correlationId: String,
                outcome: DecisionOutcome, queue: String?, reasons: [String], actions: [RecordedAction], verdicts: [PolicyResult],
                decidedAt: String, durationMicros: Int64, reviewId: String?, reviewState: String?, context: PolicyContext?) {
        self.id = id
        self.eventId = eventId
        self.eventType = eventType
        self.accountId = accountId
        self.correlationId = correlationId
        self.outcome = outcome
        self.queue = queue
        self.reasons = reasons
        self.actions = actions
        self.verdicts = verdicts
        self.decidedAt = decidedAt
        self.durationMicros = durationMicros
        self.reviewId = reviewId
        self.reviewState = reviewState
        self.context = context
    }
}
