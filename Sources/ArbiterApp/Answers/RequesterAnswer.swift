import ArbiterCore
import Foundation

/// An answer to the requester in the outbox (target ``OutboxTarget/answers``): what the decision
/// on a request that came through a source with ``AnswerChannel`` answers, and later what its
/// review came to. It is written in the same transaction as the decision (or the review step),
/// so it is never lost and never delays or changes either; the answers dispatcher sends it with
/// the outbox's retries, dead letters and audit, its id as the idempotency key.
///
/// The payload carries everything a delivery needs but the credentials (read from the source as
/// it is configured when it is sent): `channel`, `source`, `ticket_id` (Zendesk), `stage`
/// (`decision` or `review`), the ids, the `outcome`, `reasons`, the amount, and the `comment`
/// and `tags` a Zendesk ticket is given. The comment ends with a marker holding the answer's id,
/// by which a delivery finds a note it already left (a crash between sending and recording).
public struct RequesterAnswer: Sendable, Equatable {
    public static let type = "requester_answer"

    /// The action as the outbox stores it (`id`, `type`, amount and currency).
    public let action: JSONValue
    public let payload: String

    public var id: String { action["id"]?.stringValue ?? "" }

    /// The marker a Zendesk note ends with.
    public static func marker(_ id: String) -> String { "[arbiter:answer:\(id)]" }

    /// The answer to a decision on an event from `source`, when the source is answered (a
    /// Zendesk event must name its ticket: `case_id` `zendesk:<id>`).
    public static func decision(_ record: DecisionRecord, source: InboundSource) -> RequesterAnswer? {
        guard let channel = source.answers else { return nil }
        let event = record.event, decision = record.decision
        var fields: [String: JSONValue] = [
            "source": .string(source.name), "stage": "decision", "event_id": .string(record.eventId),
            "request_id": .string(event.id), "event_type": .string(event.type.rawValue), "decision_id": .string(record.decisionId),
            "account_id": .string(event.accountId), "correlation_id": .string(event.correlationId),
            "outcome": .string(decision.outcome.rawValue), "reasons": .array(decision.reasons.map(JSONValue.string)),
            "decided_at": .string(record.decidedAtText),
        ]
        if let money = event.money {
            fields["amount_minor"] = .int(money.amountMinor)
            fields["currency"] = .string(money.currency.code)
        }
        if let reviewId = record.reviewId {
            fields["review_id"] = .string(reviewId)
            fields["queue"] = decision.queue.map(JSONValue.string) ?? .null
        }
        let id = Identifier.make(now: record.decidedAt)
        switch channel {
        case .zendesk:
            guard let caseId = event.payload["case_id"]?.stringValue, caseId.hasPrefix("zendesk:") else { return nil }
            fields["channel"] = "zendesk"
            fields["ticket_id"] = .string(String(caseId.dropFirst("zendesk:".count)))
            fields["tags"] = .array(["arbiter", .string("arbiter_\(decision.outcome.rawValue)")])
            fields["comment"] = .string(decisionNote(record, id: id))
        case .callback:
            fields["channel"] = "callback"
        }
        return RequesterAnswer(id: id, fields: fields, money: event.money)
    }

    /// The answer to a review's final step, made from the answer to its decision (the same
    /// source, ticket and request); nil when the decision was not answered.
    public static func review(answering decision: JSONValue, reviewId: String, state: ReviewState, approvedAmountMinor: Int64?,
                              by reviewer: String, comment: String?, at now: Date) -> RequesterAnswer? {
        guard state.isDecided, var fields = decision.objectValue, fields["stage"] == "decision" else { return nil }
        let id = Identifier.make(now: now)
        fields["stage"] = "review"
        fields["review_id"] = .string(reviewId)
        fields["outcome"] = .string(state.rawValue)
        fields["reviewed_by"] = .string(reviewer)
        fields["reasons"] = .array(comment.map { [.string($0)] } ?? [])
        fields["decided_at"] = .string(Timestamp.format(now))
        fields["queue"] = nil
        var money: Money?
        if let code = fields["currency"]?.stringValue, let currency = Currency(code), let requested = fields["amount_minor"]?.intValue {
            let amount = state == .approved ? approvedAmountMinor ?? requested : requested
            fields["requested_amount_minor"] = .int(requested)
            fields["amount_minor"] = .int(amount)
            money = Money(amountMinor: amount, currency: currency)
        }
        if fields["channel"] == "zendesk" {
            fields["tags"] = .array(["arbiter", .string("arbiter_review_\(state.rawValue)")])
            var lines = ["Arbiter: the \(subject(fields)) was \(state.rawValue.uppercased()) in review\(money.map { " — \($0)" } ?? "")."]
            if state == .approved, let requested = fields["requested_amount_minor"]?.intValue, let money, requested != money.amountMinor {
                lines[0] = "Arbiter: the \(subject(fields)) was APPROVED in review for \(money) "
                    + "(\(Money(amountMinor: requested, currency: money.currency)) requested)."
            }
            if let comment { lines.append("Reviewer's comment: \(comment)") }
            lines.append("Review \(reviewId) of decision \(fields["decision_id"]?.stringValue ?? "?"). \(marker(id))")
            fields["comment"] = .string(lines.joined(separator: "\n"))
        }
        return RequesterAnswer(id: id, fields: fields, money: money)
    }

    init(id: String, fields: [String: JSONValue], money: Money?) {
        var fields = fields
        fields["answer_id"] = .string(id)
        var action: [String: JSONValue] = ["id": .string(id), "type": .string(Self.type)]
        if let money {
            action["amount_minor"] = .int(money.amountMinor)
            action["currency"] = .string(money.currency.code)
        }
        self.action = .object(action)
        self.payload = CanonicalJSON.string(.object(fields))
    }

    /// "credit request", from the event's type.
    static func subject(_ fields: [String: JSONValue]) -> String {
        switch fields["event_type"]?.stringValue {
        case "credit.requested": "credit request"
        case "refund.requested": "refund request"
        case let type?: type + " request"
        case nil: "request"
        }
    }

    /// The internal note a decision leaves on the ticket: outcome, amount, reasons, ids.
    static func decisionNote(_ record: DecisionRecord, id: String) -> String {
        let decision = record.decision
        let subject = subject(["event_type": .string(record.event.type.rawValue)])
        let amount = record.event.money.map { " — \($0)" } ?? ""
        var lines: [String]
        switch decision.outcome {
        case .approve: lines = ["Arbiter: the \(subject) was APPROVED\(amount)."]
        case .reject: lines = ["Arbiter: the \(subject) was REJECTED\(amount)."]
        case .review:
            let approvals = decision.approvalsRequired > 1 ? ", \(decision.approvalsRequired) approvals needed" : ""
            lines = ["Arbiter: the \(subject) is IN REVIEW\(amount) (queue \(decision.queue ?? Queue.defaultReview)\(approvals)); "
                + "the outcome will be noted here."]
        case .recorded: lines = ["Arbiter: the \(subject) was recorded\(amount)."]
        }
        if !decision.reasons.isEmpty {
            lines.append("Reasons:")
            lines += decision.reasons.map { "- \($0)" }
        }
        lines.append("Decision \(record.decisionId) of event \(record.event.id). \(marker(id))")
        return lines.joined(separator: "\n")
    }
}
