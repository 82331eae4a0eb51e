import ArbiterCore

/// Stored events with their decisions as made, as a backtest replays them: a few hundred rows
/// whose stored JSON (event, context, verdicts, actions) sits in one buffer. Only what every
/// row needs is read; the ids, times and reasons of the few rows a report shows are read
/// afterwards by row id (``PolicyStore/replayDetails(rows:)``).
public struct ReplayChunk: Sendable {
    /// The position of the first row in the replay.
    public let first: Int
    public var rows: [Row] = []
    /// Every row's stored JSON, back to back.
    public var bytes: [UInt8] = []

    public struct Row: Sendable {
        /// The rowids of the event and of its decision.
        public let eventRow: Int64
        public let decisionRow: Int64
        public let type: EventType?
        public let outcome: DecisionOutcome?
        public let queue: String?
        /// Where the envelope as submitted, the context as evaluated, every policy's verdict and
        /// the decision's actions sit in `bytes`.
        public let body: Range<Int>
        public let context: Range<Int>
        public let policies: Range<Int>
        public let actions: Range<Int>

        public init(eventRow: Int64, decisionRow: Int64, type: EventType?, outcome: DecisionOutcome?, queue: String?,
                    body: Range<Int>, context: Range<Int>, policies: Range<Int>, actions: Range<Int>) {
            self.eventRow = eventRow
            self.decisionRow = decisionRow
            self.type = type
            self.outcome = outcome
            self.queue = queue
            self.body = body
            self.context = context
            self.policies = policies
            self.actions = actions
        }
    }

    public init(first: Int, capacity: Int) {
        self.first = first
        rows.reserveCapacity(capacity)
        bytes.reserveCapacity(capacity * 1_200)
    }
}
