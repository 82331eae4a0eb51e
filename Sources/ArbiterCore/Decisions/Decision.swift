/// The service's decision on an event: every policy's verdict combined, guardrails applied.
public struct Decision: Sendable, Hashable {
    public var outcome: DecisionOutcome
    public var queue: String?
    public var reasons: [String]
    public var actions: [ProposedAction]
    public var slaSeconds: Int64?
    public var approvalsRequired: Int
    public var policies: [PolicyResult]

    /// The decision as the API returns it (ids are added by the caller once stored).
    public var json: JSONValue {
        .object([
            "outcome": .string(outcome.rawValue),
            "queue": queue.map(JSONValue.string) ?? .null,
            "reasons": .array(reasons.map(JSONValue.string)),
            "actions": .array(actions.map(\.json)),
            "sla_hours": slaSeconds.map { .double(Double($0) / 3600) } ?? .null,
            "approvals_required": .int(Int64(approvalsRequired)),
            "policies": .array(policies.map(\.json)),
        ])
    }
}
