import ArbiterApp
import ArbiterCore
import Foundation
import Hummingbird

/// `/v1/actions`: operators watch ERP delivery, and retry or cancel dead letters.
struct ActionsController {
    let deliveries: Deliveries

    static let readers: [Role] = [.operator, .auditor]

    var endpoints: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .get(use: list)
            .get(":id", use: get)
            .post(":id/retry", use: retry)
            .post(":id/cancel", use: cancel)
    }

    /// `?status=pending|delivered|dead|cancelled&target=<a configured target, or answers>&account_id=&cursor=&limit=`, in queue order.
    func list(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.readers)
        let query = request.uri.queryParameters
        var errors: [FieldError] = []
        let status = query["status"].map(String.init)
        if let status, !Deliveries.statuses.contains(status) {
            errors.append(FieldError("status", "must be one of \(Deliveries.statuses.joined(separator: ", "))"))
        }
        let target = query["target"].map(String.init)
        if let target, !deliveries.targets.contains(target) {
            errors.append(FieldError("target", "must be one of \(deliveries.targets.joined(separator: ", "))"))
        }
        let limit = RequestFields.limit(query["limit"], &errors)
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        let page = try await deliveries.actions(status: status, accountId: query["account_id"].map(String.init), target: target,
                                                after: query["cursor"].map(String.init), limit: limit)
        return JSONResponse(.object(["items": .array(page.items.map { .object($0.fields) }), "next_cursor": .text(page.next)]))
    }

    /// The action with every attempt, and what holds it back if anything does.
    func get(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.readers)
        return JSONResponse(try await deliveries.action(try context.parameters.require("id")).json)
    }

    /// A dead letter goes back in line, due now, with a fresh set of attempts. `{"comment"?}`
    func retry(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.operator)
        let id = try context.parameters.require("id")
        let body = try await JSONBody.object(request, context: context, allowEmpty: true)
        var errors = RequestFields.unknown(body, allowed: ["comment"])
        let comment = RequestFields.comment(body, &errors)
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        try await deliveries.retry(id, by: caller.id, comment: comment)
        return JSONResponse(try await deliveries.action(id).json)
    }

    /// A pending or dead action is never sent; the account's line moves on. `{"comment"}` (required)
    func cancel(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.operator)
        let id = try context.parameters.require("id")
        let body = try await JSONBody.object(request, context: context, allowEmpty: true)
        var errors = RequestFields.unknown(body, allowed: ["comment"])
        let comment = RequestFields.comment(body, &errors)
        if comment == nil && errors.isEmpty { errors.append(FieldError("comment", "is required: say why the action must not reach the ERP")) }
        guard errors.isEmpty, let comment else { throw Refusal.invalid(errors) }
        try await deliveries.cancel(id, by: caller.id, comment: comment)
        return JSONResponse(try await deliveries.action(id).json)
    }
}

extension OutboxAction {
    var fields: [String: JSONValue] {
        [
            "id": .string(id), "decision_id": .string(decisionId), "account_id": .string(accountId),
            "correlation_id": .string(correlationId), "type": .string(type), "status": .string(status), "created_at": .string(createdAt),
            "target": .string(target),
            "review_id": .text(reviewId), "currency": .text(currency), "next_attempt_at": .text(nextAttemptAt),
            "erp_reference": .text(erpReference), "last_error": .text(lastError), "delivered_at": .text(deliveredAt),
            "updated_at": .text(updatedAt), "amount_minor": .integer(amountMinor), "attempts": .int(Int64(attempts)),
            "last_status_code": .integer(lastStatusCode), "payload": payload,
        ]
    }
}

extension OutboxActionDetail {
    var json: JSONValue {
        var fields = action.fields
        fields["response_body"] = .text(responseBody)
        fields["attempt_log"] = .array(attempts.map { attempt in
            .object([
                "at": .string(attempt.at), "duration_ms": .double(Double(attempt.durationMicros) / 1000),
                "status_code": .integer(attempt.statusCode), "error": .text(attempt.error), "result": .string(attempt.result),
            ])
        })
        fields["held_by"] = .text(heldBy)
        if let heldBy {
            fields["note"] = .string("waiting behind dead letter \(heldBy) of the same account: retry or cancel it to let this one go")
        }
        return .object(fields)
    }
}
