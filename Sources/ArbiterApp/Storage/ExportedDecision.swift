import ArbiterCore
import Foundation

/// A decision as an export reads it from a store, column by column, with its review's
/// decisions, its deliveries and its `decision.made` audit entry; ``fields()`` makes the
/// export row (``DecisionExportRow``'s fields, before masking). Every backend fills this and
/// nothing else, so a row is the same whichever backend wrote it.
public struct ExportedDecision: Sendable {
    public struct ReviewStep: Sendable {
        public var at: String, reviewer: String, action: String, amountMinor: Int64?, comment: String?

        public init(at: String, reviewer: String, action: String, amountMinor: Int64?, comment: String?) {
            (self.at, self.reviewer, self.action, self.amountMinor, self.comment) = (at, reviewer, action, amountMinor, comment)
        }
    }

    public struct Delivery: Sendable {
        public var actionId: String, type: String, status: String, erpReference: String?, attempts: Int64, deliveredAt: String?,
                   lastError: String?

        public init(actionId: String, type: String, status: String, erpReference: String?, attempts: Int64, deliveredAt: String?,
                    lastError: String?) {
            (self.actionId, self.type, self.status, self.erpReference) = (actionId, type, status, erpReference)
            (self.attempts, self.deliveredAt, self.lastError) = (attempts, deliveredAt, lastError)
        }
    }

    public var decisionId = "", decidedAt = "", eventId = "", eventType = "", source = "", externalId = "", accountId = ""
    public var correlationId = "", submittedBy = "", occurredAt = "", receivedAt = "", outcome = ""
    public var queue: String?
    public var amountMinor: Int64?
    public var currency: String?
    /// Stored JSON text: the reasons, the actions, every policy's verdict, the envelope.
    public var reasons = "[]", actions = "[]", policies = "[]", body = "{}"
    public var reviewId: String?
    public var reviewState: String?
    public var reviewDecisions: [ReviewStep] = []
    public var deliveries: [Delivery] = []
    public var audit: AuditPosition?

    public init() {}

    public func fields() throws -> [String: JSONValue] {
        func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        var fields: [String: JSONValue] = [
            "decision_id": .string(decisionId), "decided_at": .string(decidedAt), "event_id": .string(eventId),
            "event_type": .string(eventType), "source": .string(source), "external_id": .string(externalId),
            "account_id": .string(accountId), "correlation_id": .string(correlationId), "submitted_by": .string(submittedBy),
            "occurred_at": .string(occurredAt), "received_at": .string(receivedAt), "outcome": .string(outcome),
            "queue": text(queue), "amount_minor": amountMinor.map(JSONValue.int) ?? .null, "currency": text(currency),
            "amount": Self.decimal(amountMinor, currency),
            "reasons": try Self.json(reasons),
            "actions": Self.withAmounts(try Self.json(actions)),
            "policies": try Self.json(policies),
            "payload": try Self.json(body)["payload"] ?? .null,
            "review_id": text(reviewId), "review_state": text(reviewState),
        ]
        fields["review_decisions"] = .array(reviewDecisions.map { step in
            .object(["at": .string(step.at), "reviewer": .string(step.reviewer), "action": .string(step.action),
                     "amount_minor": step.amountMinor.map(JSONValue.int) ?? .null, "comment": text(step.comment)])
        })
        fields["deliveries"] = .array(deliveries.map { action in
            .object(["action_id": .string(action.actionId), "type": .string(action.type), "status": .string(action.status),
                     "erp_reference": text(action.erpReference), "attempts": .int(action.attempts),
                     "delivered_at": text(action.deliveredAt), "last_error": text(action.lastError)])
        })
        fields["erp_status"] = .string(DecisionExportRow.erpStatus(deliveries.map(\.status)))
        fields["erp_references"] = .array(deliveries.compactMap(\.erpReference).map(JSONValue.string))
        fields["audit_seq"] = audit.map { .int($0.seq) } ?? .null
        fields["audit_hash"] = audit.map { .string($0.hash) } ?? .null
        return fields
    }

    /// A stored JSON column.
    private static func json(_ text: String) throws -> JSONValue {
        var text = text
        return try text.withUTF8 { try JSONValue.parse($0) }
    }

    /// Minor units as a decimal string in the currency's major unit, or null.
    private static func decimal(_ minor: Int64?, _ code: String?) -> JSONValue {
        guard let minor, let currency = code.flatMap(Currency.init) else { return .null }
        return .string(Money.format(minor, exponent: currency.exponent))
    }

    /// Each action with money gets its `amount` as a decimal string beside `amount_minor`.
    private static func withAmounts(_ actions: JSONValue) -> JSONValue {
        guard case .array(let items) = actions else { return actions }
        return .array(items.map { item in
            guard case .object(var fields) = item else { return item }
            let amount = decimal(fields["amount_minor"]?.intValue, fields["currency"]?.stringValue)
            if amount != .null { fields["amount"] = amount }
            return .object(fields)
        })
    }
}
