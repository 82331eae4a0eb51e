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
        let result = try await Simulation(lifecycle: lifecycle, accounts: accounts).run(try Simulation.Request.parse(body))
        return JSONResponse(.object([
            "decision": result.decision.json, "context": result.context.json,
            "versions": .object(result.versions.mapValues(JSONValue.string)), "stored": false,
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
