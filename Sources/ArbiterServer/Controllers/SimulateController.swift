import ArbiterApp
import ArbiterCore
import ArbiterPolicy
import Foundation
import Hummingbird

/// `POST /v1/simulate`: one event decided as the service would — against the active policies,
/// or with some at other stored versions — returning every policy's reasons and log. Nothing
/// is stored and nothing is sent anywhere.
struct SimulateController {
    let lifecycle: PolicyLifecycle
    let accounts: Accounts

    /// `{"event", "context"?, "versions"?: {"name": "version"}}`. Without `context`, the
    /// account's context is read from the database as it is now.
    func simulate(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(PoliciesController.readers)
        let body = try await JSONBody.object(request, context: context)
        var errors = RequestFields.unknown(body, allowed: ["event", "context", "versions"])
        var event: Event?
        do {
            guard let envelope = body["event"] else { throw Refusal.invalid([FieldError("", "is required: an event as POST /v1/events takes it")]) }
            event = try Event(envelope: envelope)
        } catch let invalid as Refusal {
            errors += invalid.errors.map { FieldError($0.field.isEmpty ? "event" : "event.\($0.field)", $0.message) }
        }
        var versions: [String: String] = [:]
        switch body["versions"] {
        case nil, .null?: break
        case .object(let fields)?:
            for (name, value) in fields.sorted(by: { $0.key < $1.key }) {
                if case .string(let version) = value { versions[name] = version }
                else { errors.append(FieldError("versions.\(name)", "must be a version (the SHA-256 of the source, as GET /v1/policies/{name}/versions lists)")) }
            }
        default: errors.append(FieldError("versions", "must be an object of policy name to version"))
        }
        var given: PolicyContext?
        if let event, let json = body["context"], json != .null {
            do {
                given = try PolicyContext(json: json, accountId: event.accountId, defaultNow: Int64(Date().timeIntervalSince1970))
            } catch let invalid as Refusal {
                errors += invalid.errors
            }
        }
        guard errors.isEmpty, let event else { throw Refusal.invalid(errors) }
        let policyContext: PolicyContext
        if let given {
            policyContext = given
        } else {
            policyContext = try await accounts.context(of: event.accountId)
        }
        let (decision, used) = try await lifecycle.simulate(event, context: policyContext, versions: versions)
        return JSONResponse(.object([
            "decision": decision.json, "context": policyContext.json,
            "versions": .object(used.mapValues(JSONValue.string)), "stored": false,
        ]))
    }
}

// MARK: The JSON the API answers

extension PolicySummary {
    var json: JSONValue {
        .object([
            "name": .string(name), "active_version": .text(activeVersion), "shadow_version": .text(shadowVersion),
            "drafts": .array(drafts.map(JSONValue.string)), "versions": .int(Int64(versionCount)),
            "pending_activation": pendingProposal.map { proposal in
                .object(["version": .string(proposal.version), "change": .string(proposal.change.rawValue),
                         "proposed_by": .string(proposal.proposedBy), "proposed_at": .string(proposal.proposedAt)])
            } ?? .null,
        ])
    }
}

extension PolicyVersionSummary {
    var fields: [String: JSONValue] {
        [
            "name": .string(name), "version": .string(version), "file": .string(file), "status": .string(status),
            "published_by": .string(publishedBy), "published_at": .string(publishedAt), "activated_at": .text(activatedAt),
        ]
    }

    var json: JSONValue { .object(fields) }
}

extension PolicyVersionDetail {
    var json: JSONValue {
        var fields = summary.fields
        fields["source"] = .string(source)
        fields["tests"] = tests ?? .null
        fields["history"] = .array(history.map { .object(["change": .string($0.change), "actor": .string($0.actor), "at": .string($0.at)]) })
        return .object(fields)
    }
}
