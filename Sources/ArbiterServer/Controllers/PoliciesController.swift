import ArbiterApp
import ArbiterCore
import ArbiterPolicy
import Foundation
import Hummingbird

/// `/v1/policies`: finance publishes and activates policy versions without a redeploy.
struct PoliciesController {
    /// Activate, roll back, deactivate and approve, with the maker-checker setting applied.
    let controls: PolicyControls
    var lifecycle: PolicyLifecycle { controls.lifecycle }

    static let readers: [Role] = [.policyAdmin, .auditor, .reviewer, .operator]

    var endpoints: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .post(use: publish)
            .get(use: list)
            .get(":name/versions", use: versions)
            .get(":name/versions/:version", use: version)
            .post(":name/versions/:version/activate", use: activate)
            .post(":name/versions/:version/approve", use: approve)
            .post(":name/rollback", use: rollback)
            .post(":name/deactivate", use: deactivate)
            .post(":name/versions/:version/shadow", use: shadow)
            .delete(":name/shadow", use: stopShadow)
            .get(":name/shadow-report", use: shadowReport)
            .post(":name/versions/:version/backtest", use: backtest)
            .get(":name/backtests/:id", use: backtestJob)
            .post(":name/breaker/reset", use: resetBreaker)
    }

    /// The Lua source as `text/x-lua`, or JSON `{"source", "tests"?}`. 201 for a new version,
    /// 200 when the same source was published before.
    func publish(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.policyAdmin)
        let source: String
        var tests: JSONValue?
        if request.headers[.contentType]?.lowercased().hasPrefix("text/x-lua") == true {
            let buffer = try await JSONBody.bytes(request, limit: 256 * 1024)
            source = String(buffer: buffer)
        } else {
            let body = try await JSONBody.object(request, context: context)
            var errors = RequestFields.unknown(body, allowed: ["source", "tests"])
            guard case .string(let text)? = body["source"], !text.isEmpty else {
                errors.append(FieldError("source", "is required: the policy's Lua source as a string"))
                throw Refusal.invalid(errors)
            }
            if !errors.isEmpty { throw Refusal.invalid(errors) }
            source = text
            tests = body["tests"].flatMap { $0 == .null ? nil : $0 }
        }
        let published = try await lifecycle.publish(source: source, tests: tests, by: caller.id)
        let stored = try await lifecycle.version(name: published.name, version: published.version)
        return JSONResponse(stored.json, status: published.created ? .created : .ok)
    }

    func list(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.readers)
        let policies = try await lifecycle.policies()
        return JSONResponse(.object(["policies": .array(policies.map(\.json))]))
    }

    func versions(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.readers)
        let name = try context.parameters.require("name")
        let versions = try await lifecycle.versions(name: name)
        return JSONResponse(.object(["name": .string(name), "versions": .array(versions.map(\.json))]))
    }

    func version(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.readers)
        let name = try context.parameters.require("name")
        let version = try context.parameters.require("version")
        return JSONResponse(try await lifecycle.version(name: name, version: version).json)
    }

    /// Activates the version — or, with maker-checker on, proposes it (202) for a second admin.
    func activate(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.policyAdmin)
        let name = try context.parameters.require("name")
        let version = try context.parameters.require("version")
        switch try await controls.activate(version, of: name, by: caller.id) {
        case .proposed(let version, let change): return try await proposed(name: name, version: version, change: change, by: caller.id)
        case .done(let outcome):
            return JSONResponse(.object(["name": .string(name), "active_version": .string(version),
                                         "previous_version": .text(outcome.previousVersion)]))
        }
    }

    /// The answer to a change that maker-checker turned into a proposal (202).
    private func proposed(name: String, version: String, change: MakerChecker.Change, by actor: String) async throws -> JSONResponse {
        let active = try await lifecycle.activeVersion(name: name)
        return JSONResponse(.object([
            "name": .string(name), "active_version": active.map(JSONValue.string) ?? .null,
            "proposed_version": .string(version), "proposed_change": .string(change.rawValue), "proposed_by": .string(actor),
            "status": .string("proposed: a different policy admin must approve it (POST /v1/policies/\(name)/versions/\(version)/approve)"),
        ]), status: .accepted)
    }

    /// Maker-checker: a different policy admin approves the pending proposal about a version
    /// (activate it, roll back to it, or deactivate it), which is carried out.
    func approve(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.policyAdmin)
        let name = try context.parameters.require("name")
        let version = try context.parameters.require("version")
        let outcome = try await controls.approve(version, of: name, by: caller.id)
        let change = outcome.approved ?? .activate
        return JSONResponse(.object(["name": .string(name), "active_version": change == .deactivate ? .null : .string(version),
                                     "previous_version": .text(outcome.previousVersion), "change": .string(change.rawValue)]))
    }

    /// Re-activates the version active before the current one (with maker-checker on, proposes it).
    func rollback(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.policyAdmin)
        let name = try context.parameters.require("name")
        switch try await controls.rollback(name, by: caller.id) {
        case .proposed(let version, let change): return try await proposed(name: name, version: version, change: change, by: caller.id)
        case .done(let outcome):
            return JSONResponse(.object(["name": .string(name), "active_version": .string(outcome.version),
                                         "previous_version": .text(outcome.previousVersion)]))
        }
    }

    /// Retires the active version (with maker-checker on, proposes it).
    func deactivate(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.policyAdmin)
        let name = try context.parameters.require("name")
        switch try await controls.deactivate(name, by: caller.id) {
        case .proposed(let version, let change): return try await proposed(name: name, version: version, change: change, by: caller.id)
        case .done(let retired):
            return JSONResponse(.object(["name": .string(name), "active_version": .null, "previous_version": .string(retired.version)]))
        }
    }

    /// Runs the version in shadow beside the active one (a version already in shadow for this
    /// policy stops).
    func shadow(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.policyAdmin)
        let name = try context.parameters.require("name")
        let version = try context.parameters.require("version")
        let (outcome, types) = try await controls.shadow(version, of: name, by: caller.id)
        return JSONResponse(.object(["name": .string(name), "shadow_version": .string(version), "run": .integer(outcome.shadowRun),
                                     "event_types": .array(types.map(JSONValue.string))]))
    }

    func stopShadow(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.policyAdmin)
        let name = try context.parameters.require("name")
        let stopped = try await controls.stopShadow(name, by: caller.id)
        return JSONResponse(.object(["name": .string(name), "shadow_version": .null, "stopped_version": .string(stopped.version)]))
    }

    /// `?version=&cursor=&limit=`: the latest shadow run (of `version`), its counts by
    /// transition and its differences, newest first.
    func shadowReport(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.readers)
        let name = try context.parameters.require("name")
        let query = request.uri.queryParameters
        var errors: [FieldError] = []
        let limit = RequestFields.limit(query["limit"], &errors)
        var before: Int64?
        if let cursor = query["cursor"] {
            before = Int64(cursor)
            if before == nil { errors.append(FieldError("cursor", "must be the next_cursor of a previous page")) }
        }
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        let version = query["version"].map(String.init)
        return JSONResponse(try await lifecycle.shadowReport(name: name, version: version, limit: limit, before: before).json)
    }

    /// `{"from", "to", "limit"?}`: replays the stored events of the policy's types received in
    /// [from, to). Small ranges answer at once (200, the report); larger ones run as a job
    /// (202, follow `GET .../backtests/{id}`).
    func backtest(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.policyAdmin)
        let name = try context.parameters.require("name")
        let version = try context.parameters.require("version")
        let range = try BacktestRange.parse(try await JSONBody.object(request, context: context))
        let job = try await controls.backtest(version, of: name, range: range, by: caller.id)
        return JSONResponse(job.job.json, status: job.inline ? .ok : .accepted)
    }

    /// Closes the policy's circuit breaker (operators and policy admins): its events are
    /// evaluated again. Audited as `policy.breaker_reset`; 409 when no breaker of it is open.
    func resetBreaker(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require([.operator, .policyAdmin])
        let name = try context.parameters.require("name")
        let versions = try await lifecycle.resetBreaker(policy: name, by: caller.id)
        return JSONResponse(.object(["name": .string(name), "reset_versions": .array(versions.map(JSONValue.string))]))
    }

    func backtestJob(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.readers)
        let name = try context.parameters.require("name")
        let id = try context.parameters.require("id")
        guard let job = try await lifecycle.backtests.job(name: name, id: id) else {
            throw Refusal.notFound("policy \(name) has no backtest \(id)")
        }
        return JSONResponse(job.json)
    }
}

extension ShadowReport {
    var json: JSONValue {
        .object([
            "name": .string(name), "version": .string(version), "active_version": .text(activeVersion),
            "running": .bool(running), "event_types": .array(eventTypes.map(JSONValue.string)),
            "started_by": .string(startedBy), "started_at": .string(startedAt),
            "stopped_by": .text(stoppedBy), "stopped_at": .text(stoppedAt),
            "evaluated": .int(Int64(evaluated)), "outcome_changes": .int(outcomeChanges), "other_changes": .int(otherChanges),
            "transitions": .object(transitions.mapValues(JSONValue.int)),
            "differences": .array(differences.map { difference in
                .object([
                    "id": .int(difference.id), "event_id": .string(difference.eventId), "decision_id": .string(difference.decisionId),
                    "type": .string(difference.eventType), "account_id": .string(difference.accountId),
                    "correlation_id": .string(difference.correlationId), "amount_minor": .integer(difference.amountMinor),
                    "currency": .text(difference.currency), "transition": .string(difference.transition),
                    "outcome_changed": .bool(difference.outcomeChanged), "actual": difference.actual, "shadow": difference.shadow,
                    "at": .string(difference.at),
                ])
            }),
            "next_cursor": .text(nextCursor),
        ])
    }
}

extension BacktestJob {
    var json: JSONValue {
        .object([
            "id": .string(id), "name": .string(name), "version": .string(version), "from": .string(from), "to": .string(to),
            "limit": .integer(limit), "requested_by": .string(requestedBy), "requested_at": .string(requestedAt),
            "status": .string(status.rawValue), "total": .int(total), "finished_at": .text(finishedAt), "error": .text(error),
            "report": report ?? .null,
            "progress": .object(["evaluated": .int(progress.evaluated), "total": .int(progress.total), "percent": .int(progress.percent)]),
        ])
    }
}
