import ArbiterCore

/// What `POST /v1/events` returns, and what a resubmission replays.
public enum DecisionResponse {
    public static func encode(_ record: DecisionRecord) -> String {
        let decision = record.decision
        func json(_ value: JSONValue) -> [UInt8] { CanonicalJSON.encode(value) }
        var fields: [(key: String, json: [UInt8])] = [
            ("id", json(.string(record.decisionId))), ("outcome", json(.string(decision.outcome.rawValue))),
            ("queue", json(decision.queue.map(JSONValue.string) ?? .null)),
            ("reasons", record.encodedReasons), ("actions", record.encodedActions),
            ("review_id", json(record.reviewId.map(JSONValue.string) ?? .null)),
            ("policies", record.encodedPolicies), ("decided_at", json(.string(record.decidedAtText))),
        ]
        if decision.outcome == .review {
            fields.append(("approvals_required", json(.int(Int64(max(1, decision.approvalsRequired))))))
            fields.append(("sla_due_at", json(record.slaDueText.map(JSONValue.string) ?? .null)))
        }
        let body = CanonicalJSON.object([("event_id", json(.string(record.eventId))), ("decision", CanonicalJSON.object(fields))])
        return String(decoding: body, as: UTF8.self)
    }
}

