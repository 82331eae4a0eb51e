import ArbiterApp
import ArbiterCore
import Foundation
import Hummingbird

/// Who may look at queues and items.
let reviewReaders: [Role] = [.reviewer, .auditor, .operator]

/// The states `?state=` selects: one state, or `decided` for approved and rejected; by
/// default the items still waiting.
func reviewStates(_ filter: String?) -> [ReviewState]? {
    switch filter {
    case nil: ReviewState.waiting
    case "decided": [.approved, .rejected]
    case let name?: ReviewState(rawValue: name).map { [$0] }
    }
}

/// `/v1/reviews/{id}`: one item, and the reviewer commands on it.
struct ReviewsController {
    let desk: ReviewDesk

    var endpoints: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .get(":id", use: get)
            .post(":id/claim", use: claim)
            .post(":id/release", use: release)
            .post(":id/approve", use: approve)
            .post(":id/reject", use: reject)
            .post(":id/assign", use: assign)
    }

    func get(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(reviewReaders)
        return JSONResponse(try await desk.item(try context.parameters.require("id")).json)
    }

    func claim(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        try await run(.claim, by: try context.require(.reviewer), context)
    }

    func release(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        try await run(.release, by: try context.require(.reviewer), context)
    }

    /// `{"comment"?, "amount_minor"?}`: a lower amount scales the money actions down.
    func approve(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.reviewer)
        let body = try await JSONBody.object(request, context: context, allowEmpty: true)
        var errors = RequestFields.unknown(body, allowed: ["comment", "amount_minor"])
        let comment = RequestFields.comment(body, &errors)
        var amount: Int64?
        switch body["amount_minor"]?.integralAsInt {
        case nil, .null?: break
        case .int(let v)?: amount = v
        case let other?: errors.append(FieldError("amount_minor", "must be an integer number of minor units, got \(other.typeName)"))
        }
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        return try await run(.approve(comment: comment, amountMinor: amount), by: caller, context)
    }

    /// `{"comment"}`: required.
    func reject(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.reviewer)
        let body = try await JSONBody.object(request, context: context, allowEmpty: true)
        var errors = RequestFields.unknown(body, allowed: ["comment"])
        let comment = RequestFields.comment(body, &errors)
        if comment == nil && errors.isEmpty { errors.append(FieldError("comment", "is required: say why the request is rejected")) }
        guard errors.isEmpty, let comment else { throw Refusal.invalid(errors) }
        return try await run(.reject(comment: comment), by: caller, context)
    }

    /// Admin: `{"reviewer": key id, "comment"?}` gives the claim to that reviewer.
    func assign(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.admin)
        let body = try await JSONBody.object(request, context: context)
        var errors = RequestFields.unknown(body, allowed: ["reviewer", "comment"])
        let comment = RequestFields.comment(body, &errors)
        let reviewer = body["reviewer"]?.stringValue
        if reviewer?.isEmpty ?? true { errors.append(FieldError("reviewer", "is required: the id of the reviewer key to assign")) }
        guard errors.isEmpty, let reviewer else { throw Refusal.invalid(errors) }
        let target = try await desk.assignee(reviewer)
        return try await run(.assign(to: target, comment: comment), by: caller, context)
    }

    /// Runs a command for the caller (role checked by the handler) and returns the item as it now is.
    func run(_ command: ReviewCommand, by caller: ApiKey, _ context: AppRequestContext) async throws -> JSONResponse {
        let id = try context.parameters.require("id")
        try await desk.perform(command, on: id, by: caller)
        return JSONResponse(try await desk.item(id).json)
    }
}

// MARK: The JSON the API answers

extension QueueSummary {
    func json(_ config: QueueSettings, now: Date) -> JSONValue {
        .object([
            "name": .string(name), "open": .int(Int64(waiting)),
            "by_state": .object(["open": .int(Int64(open)), "claimed": .int(Int64(claimed)), "escalated": .int(Int64(escalated))]),
            "overdue": .int(Int64(overdue)),
            "oldest_age_seconds": oldestCreatedAt.map { .int(Int64(max(0, now.timeIntervalSince($0)))) } ?? .null,
            "sla_hours": config.slaSeconds.map { .double(Double($0) / 3600) } ?? .null,
            "escalate_to": config.escalateTo.map(JSONValue.string) ?? .null,
            "two_approvals_over_minor": config.twoApprovalsOverMinor.map(JSONValue.int) ?? .null,
        ])
    }
}

extension ReviewItemSummary {
    var json: JSONValue { .object(fields) }

    var fields: [String: JSONValue] {
        [
            "id": .string(id), "queue": .string(queue), "state": .string(state.rawValue), "account_id": .string(accountId),
            "event_id": .string(eventId), "decision_id": .string(decisionId), "event_type": .string(eventType),
            "created_at": .string(createdAt), "submitted_by": .string(submittedBy),
            "sla_due_at": .text(slaDueAt), "escalated_at": .text(escalatedAt), "escalated_from": .text(escalatedFrom),
            "decided_at": .text(decidedAt), "decided_by": .text(decidedBy), "currency": .text(currency),
            "claimed_by": .text(claim?.by), "claimed_by_name": .text(claim?.byName), "claim_expires_at": .text(claim?.expiresAt),
            "amount_minor": .integer(amountMinor), "approvals_required": .int(Int64(approvalsRequired)),
            "approvals_given": .int(Int64(approvalsGiven)), "approved_amount_minor": .integer(approvedAmountMinor),
            "reasons": .array(reasons.map(JSONValue.string)), "overdue": .bool(overdue),
        ]
    }
}

extension ReviewItemDetail {
    var json: JSONValue {
        var fields = summary.fields
        fields["correlation_id"] = .string(correlationId)
        fields["submitted_by_name"] = .text(submittedByName)
        fields["event"] = event?.json ?? .null
        fields["context"] = context?.json ?? .null
        fields["policies"] = .array(verdicts.map(\.json))
        fields["proposed_actions"] = .array(proposedActions.map { .object($0.fields) })
        fields["proposed_amount_minor"] = .integer(proposedAmountMinor)
        fields["queued_actions"] = .array(queuedActions.map { action in
            .object([
                "id": .string(action.id), "type": .string(action.type), "amount_minor": .integer(action.amountMinor),
                "currency": .text(action.currency), "status": .string(action.status), "erp_reference": .text(action.erpReference),
            ])
        })
        fields["history"] = .array(history.map { step in
            .object([
                "at": .string(step.at), "actor": .string(step.actor), "actor_name": .text(step.actorName),
                "action": .string(step.action), "comment": .text(step.comment), "amount_minor": .integer(step.amountMinor),
                "assignee": .text(step.assignee),
            ])
        })
        fields["approvals"] = .array(approvals.map { step in
            .object([
                "reviewer": .string(step.actor), "reviewer_name": .text(step.actorName), "at": .string(step.at),
                "amount_minor": .integer(step.amountMinor), "comment": .text(step.comment),
            ])
        })
        return .object(fields)
    }
}

extension StoredEvent {
    var json: JSONValue {
        .object([
            "id": .string(id), "source": .string(source), "external_id": .string(externalId), "type": .string(type),
            "account_id": .string(accountId), "correlation_id": .string(correlationId), "occurred_at": .string(occurredAt),
            "received_at": .string(receivedAt), "submitted_by": .string(submittedBy), "body_sha256": .string(bodySHA256),
            "envelope": envelope, "decision_id": .text(decisionId),
        ])
    }
}

extension JSONValue {
    /// A string, or null.
    static func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
    /// An integer, or null.
    static func integer(_ value: Int64?) -> JSONValue { value.map(JSONValue.int) ?? .null }
}
