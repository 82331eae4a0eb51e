import ArbiterApp
import ArbiterCore
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/decisions`: what was decided, why, by which policy versions, against which context.
struct DecisionsController {
    let decisions: any DecisionStore

    var endpoints: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .get(use: list)
            .get(":id", use: get)
    }

    func get(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Role.readers)
        let id = try context.parameters.require("id")
        guard let decision = try await decisions.decision(id: id) else { throw Refusal.notFound("no decision with id '\(id)'") }
        return JSONResponse(decision.json)
    }

    /// `?account_id=&outcome=&from=&to=&cursor=&limit=`: oldest first, `limit` (1-500, default
    /// 50) per page; `next_cursor` is null on the last page.
    func list(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Role.readers)
        let query = request.uri.queryParameters
        var errors: [FieldError] = []
        var filter = DecisionFilter()
        filter.accountId = query["account_id"].map(String.init)
        if let outcome = query["outcome"] {
            filter.outcome = DecisionOutcome(rawValue: String(outcome))
            if filter.outcome == nil { errors.append(FieldError("outcome", "must be one of approve, review, reject, recorded")) }
        }
        for (name, path) in [("from", \DecisionFilter.from), ("to", \DecisionFilter.to)] {
            guard let text = query[name[...]] else { continue }
            if let date = Timestamp.parse(String(text)) { filter[keyPath: path] = date }
            else { errors.append(FieldError(name, "must be an RFC 3339 timestamp such as 2026-11-22T10:00:00Z")) }
        }
        filter.after = query["cursor"].map(String.init)
        filter.limit = RequestFields.limit(query["limit"], default: filter.limit, &errors)
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        let page = try await decisions.decisions(filter)
        return JSONResponse(.object(["items": .array(page.items.map(\.json)), "next_cursor": .text(page.next)]))
    }
}

extension StoredDecision {
    /// The decision as the API shows it: `context` only when one decision is read.
    var json: JSONValue {
        var fields: [String: JSONValue] = [
            "id": .string(id), "event_id": .string(eventId), "event_type": .string(eventType), "account_id": .string(accountId),
            "correlation_id": .string(correlationId), "outcome": .string(outcome.rawValue), "decided_at": .string(decidedAt),
            "queue": .text(queue), "review_id": .text(reviewId), "review_state": .text(reviewState),
            "reasons": .array(reasons.map(JSONValue.string)), "actions": .array(actions.map { .object($0.fields) }),
            "policies": .array(verdicts.map(\.json)), "duration_us": .int(durationMicros),
        ]
        if let context { fields["context"] = context.json }
        return .object(fields)
    }
}

extension HTTPField.Name {
    static let idempotentReplayed = Self("Idempotent-Replayed")!
}
