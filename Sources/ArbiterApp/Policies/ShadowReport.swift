import ArbiterCore

/// What a policy's shadow run saw: how many live events of its types it evaluated, how many
/// decisions it would have changed (by transition), and a page of its differences, newest first.
public struct ShadowReport: Sendable {
    /// One live decision the shadow version would have made differently. `actual` and `shadow`
    /// are the two decisions as recorded (`Decision.compared(verdicts:)`).
    public struct Difference: Sendable {
        public var id: Int64
        public var eventId: String
        public var decisionId: String
        public var eventType: String
        public var accountId: String
        public var correlationId: String
        public var amountMinor: Int64?
        public var currency: String?
        public var transition: String
        public var outcomeChanged: Bool
        public var actual: JSONValue
        public var shadow: JSONValue
        public var at: String

        public init(id: Int64, eventId: String, decisionId: String, eventType: String, accountId: String, correlationId: String,
                    amountMinor: Int64?, currency: String?, transition: String, outcomeChanged: Bool, actual: JSONValue,
                    shadow: JSONValue, at: String) {
            self.id = id
            self.eventId = eventId
            self.decisionId = decisionId
            self.eventType = eventType
            self.accountId = accountId
            self.correlationId = correlationId
            self.amountMinor = amountMinor
            self.currency = currency
            self.transition = transition
            self.outcomeChanged = outcomeChanged
            self.actual = actual
            self.shadow = shadow
            self.at = at
        }
    }

    public var name: String
    public var version: String
    public var activeVersion: String?
    public var running: Bool
    public var eventTypes: [String]
    public var startedBy: String
    public var startedAt: String
    public var stoppedBy: String?
    public var stoppedAt: String?
    /// Live events of its types received while it ran.
    public var evaluated: Int
    public var outcomeChanges: Int64
    /// Same outcome, another queue or other actions.
    public var otherChanges: Int64
    /// Outcome changes by transition ("approve→review").
    public var transitions: [String: Int64]
    public var differences: [Difference]
    /// The id to page on from, when there may be more.
    public var nextCursor: String?

    public init(name: String, version: String, activeVersion: String?, running: Bool, eventTypes: [String], startedBy: String,
                startedAt: String, stoppedBy: String?, stoppedAt: String?, evaluated: Int, outcomeChanges: Int64,
                otherChanges: Int64, transitions: [String: Int64], differences: [Difference], nextCursor: String?) {
        self.name = name
        self.version = version
        self.activeVersion = activeVersion
        self.running = running
        self.eventTypes = eventTypes
        self.startedBy = startedBy
        self.startedAt = startedAt
        self.stoppedBy = stoppedBy
        self.stoppedAt = stoppedAt
        self.evaluated = evaluated
        self.outcomeChanges = outcomeChanges
        self.otherChanges = otherChanges
        self.transitions = transitions
        self.differences = differences
        self.nextCursor = nextCursor
    }
}
