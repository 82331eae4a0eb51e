import ArbiterCore
import Foundation

/// Everything one event's decision writes, prepared before the write transaction so the
/// transaction itself only inserts rows.
public struct DecisionRecord: Sendable {
    /// Arbiter's id for the event (UUIDv7).
    public var eventId: String
    public var event: Event
    /// The envelope as canonical JSON: what is stored and hashed for idempotent replays.
    public var body: String
    public var bodySHA256: String
    /// The submitting API key's id.
    public var submittedBy: String
    public var receivedAt: Date
    public var decisionId: String
    public var decision: Decision
    /// One id per decision action, in order: the outbox id and ERP idempotency key.
    public var actionIds: [String]
    /// The delivery target of each action, in order (``ActionRouting``).
    public var actionTargets: [String]
    /// Set when the decision is review.
    public var reviewId: String?
    public var context: PolicyContext
    public var decidedAt: Date
    public var durationMicros: Int64
    /// The account snapshot after a signal event changed it.
    public var accountUpdate: AccountSnapshot?
    /// The response body, stored so a resubmission gets exactly the same answer.
    public var response: String
    /// The webhook this event came from, when it is its message's only event: written in the
    /// same transaction as the decision (one commit per webhook instead of two in sequence).
    /// Not written when the event turns out to be a duplicate.
    public var inbound: InboundMessage?
    /// The answer to the requester (``RequesterAnswer``), queued with the decision when the
    /// event came through a source that is answered.
    public var answer: RequesterAnswer?
    /// The decision's actions with their ids (see ``actionIds``).
    public let actionsJSON: [JSONValue]
    /// Canonical JSON of the reasons, the actions with ids and the policy verdicts, encoded once
    /// for the columns, the audit entry and the response.
    public let encodedReasons: [UInt8]
    public let encodedActions: [UInt8]
    public let encodedPolicies: [UInt8]
    /// Everything else the write needs, prepared here (on the request's thread) so the single
    /// writer only binds values and chains the audit entries.
    public let occurredAtText: String
    public let receivedAtText: String
    /// `decidedAt` and the SLA due time (review only) as stored and returned.
    public let decidedAtText: String
    public let slaDueText: String?
    public let contextJSON: String
    public let outboxPayloads: [String]
    public let receivedAudit: AuditDraft
    public let decisionAudit: AuditDraft

    public init(eventId: String, event: Event, body: String, bodySHA256: String, submittedBy: String, receivedAt: Date,
                decisionId: String, decision: Decision, actionIds: [String], reviewId: String?, context: PolicyContext,
                decidedAt: Date, durationMicros: Int64, accountUpdate: AccountSnapshot?, response: String) {
        self.eventId = eventId
        self.event = event
        self.body = body
        self.bodySHA256 = bodySHA256
        self.submittedBy = submittedBy
        self.receivedAt = receivedAt
        self.decisionId = decisionId
        self.decision = decision
        self.actionIds = actionIds
        self.actionTargets = decision.actions.map { ActionRouting.single.target(for: $0.type) }
        self.reviewId = reviewId
        self.context = context
        self.decidedAt = decidedAt
        self.durationMicros = durationMicros
        self.accountUpdate = accountUpdate
        self.response = response
        let actions = zip(actionIds, decision.actions).map { id, action -> JSONValue in
            var fields = action.fields
            fields["id"] = .string(id)
            return .object(fields)
        }
        self.actionsJSON = actions
        let reasons = CanonicalJSON.encode(.array(decision.reasons.map(JSONValue.string)))
        let encodedActions = CanonicalJSON.encode(.array(actions))
        self.encodedReasons = reasons
        self.encodedActions = encodedActions
        self.encodedPolicies = CanonicalJSON.encode(.array(decision.policies.map(\.json)))
        let occurred = Timestamp.format(event.occurredAt)
        self.occurredAtText = occurred
        let received = Timestamp.format(receivedAt)
        let decided = Timestamp.format(decidedAt)
        self.receivedAtText = received
        self.decidedAtText = decided
        self.slaDueText = decision.outcome == .review
            ? decision.slaSeconds.map { Timestamp.format(decidedAt.addingTimeInterval(TimeInterval($0))) } : nil
        self.contextJSON = CanonicalJSON.string(context.json)
        self.outboxPayloads = decision.outcome == .approve
            ? actions.map { Self.outboxPayload($0, accountId: event.accountId, correlationId: event.correlationId, decisionId: decisionId) }
            : []
        self.receivedAudit = AuditDraft(
            actor: submittedBy, kind: "event.received", subject: eventId, correlationId: event.correlationId, at: received,
            dataJSON: CanonicalJSON.encode(Self.receivedAuditData(event: event, occurredAt: occurred, bodySHA256: bodySHA256)))
        self.decisionAudit = AuditDraft(
            actor: submittedBy, kind: "decision.made", subject: decisionId, correlationId: event.correlationId, at: decided,
            dataJSON: Self.decisionAuditData(eventId: eventId, decision: decision, reviewId: reviewId,
                                                  reasons: reasons, actions: encodedActions))
    }


    /// The JSON sent to the ERP for an action (its fields and `id`): the action plus the account,
    /// the correlation id and the decision it came from.
    public static func outboxPayload(_ action: JSONValue, accountId: String, correlationId: String, decisionId: String) -> String {
        var payload = action.objectValue ?? [:]
        payload["account_id"] = .string(accountId)
        payload["correlation_id"] = .string(correlationId)
        payload["decision_id"] = .string(decisionId)
        return CanonicalJSON.string(.object(payload))
    }

    /// The event's identity and a digest of its body: the stored body can be checked against it.
    static func receivedAuditData(event: Event, occurredAt: String, bodySHA256: String) -> JSONValue {
        var data: [String: JSONValue] = [
            "type": .string(event.type.rawValue), "source": .string(event.source), "external_id": .string(event.id),
            "account_id": .string(event.accountId), "occurred_at": .string(occurredAt),
            "body_sha256": .string(bodySHA256),
        ]
        if let money = event.money {
            data["amount_minor"] = .int(money.amountMinor)
            data["currency"] = .string(money.currency.code)
        }
        return .object(data)
    }

    /// The outcome, its reasons and actions, and which version of each policy decided.
    static func decisionAuditData(eventId: String, decision: Decision, reviewId: String?, reasons: [UInt8],
                                  actions: [UInt8]) -> [UInt8] {
        let policies: JSONValue = .array(decision.policies.map { p in
            .object(["name": .string(p.name), "version": .string(p.version), "outcome": .string(p.outcome.rawValue),
                     "error": p.error.map(JSONValue.string) ?? .null])
        })
        return CanonicalJSON.object([
            ("event_id", CanonicalJSON.encode(.string(eventId))),
            ("outcome", CanonicalJSON.encode(.string(decision.outcome.rawValue))),
            ("queue", CanonicalJSON.encode(decision.queue.map(JSONValue.string) ?? .null)),
            ("reasons", reasons), ("actions", actions),
            ("review_id", CanonicalJSON.encode(reviewId.map(JSONValue.string) ?? .null)),
            ("policies", CanonicalJSON.encode(policies)),
        ])
    }
}
