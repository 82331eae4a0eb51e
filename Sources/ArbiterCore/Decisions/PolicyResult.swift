/// One policy's verdict on one event, as recorded in the decision.
public struct PolicyResult: Sendable, Hashable {
    public var name: String
    /// The policy version: the SHA-256 of its source, in hex.
    public var version: String
    public var outcome: PolicyOutcome
    public var queue: String?
    public var reasons: [String]
    public var actions: [ProposedAction]
    public var slaSeconds: Int64?
    public var approvalsRequired: Int?
    public var durationMicros: Int64
    /// Set when the policy failed; the outcome is then review in `policy-errors`.
    public var error: String?
    /// Lines the policy wrote with `log(...)`.
    public var log: [String]

    public init(name: String, version: String, outcome: PolicyOutcome, queue: String? = nil, reasons: [String] = [],
                actions: [ProposedAction] = [], slaSeconds: Int64? = nil, approvalsRequired: Int? = nil,
                durationMicros: Int64 = 0, error: String? = nil, log: [String] = []) {
        self.name = name
        self.version = version
        self.outcome = outcome
        self.queue = queue
        self.reasons = reasons
        self.actions = actions
        self.slaSeconds = slaSeconds
        self.approvalsRequired = approvalsRequired
        self.durationMicros = durationMicros
        self.error = error
        self.log = log
    }

    /// A failed policy: review in `policy-errors` with the error as the reason. Never approve.
    public static func failure(name: String, version: String, error: String, durationMicros: Int64 = 0, log: [String] = []) -> PolicyResult {
        PolicyResult(name: name, version: version, outcome: .review, queue: Queue.policyErrors, reasons: [error],
                     durationMicros: durationMicros, error: error, log: log)
    }

    public var json: JSONValue {
        var fields: [String: JSONValue] = [
            "name": .string(name), "version": .string(version), "outcome": .string(outcome.rawValue),
            "reasons": .array(reasons.map(JSONValue.string)), "duration_us": .int(durationMicros),
            "error": error.map(JSONValue.string) ?? .null,
        ]
        if let queue { fields["queue"] = .string(queue) }
        if !actions.isEmpty { fields["actions"] = .array(actions.map(\.json)) }
        if !log.isEmpty { fields["log"] = .array(log.map(JSONValue.string)) }
        return .object(fields)
    }
}
