import ArbiterApp
import ArbiterCore
import Foundation
import Hummingbird

/// `/v1/keys`: admins create, list and revoke API keys. The secret is returned once, at creation.
struct KeysController {
    let keys: Keys

    var endpoints: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .post(use: create)
            .get(use: list)
            .post(":id/revoke", use: revoke)
    }

    /// `{"name", "role", "approval_limits"?: {"USD": 50000}}` → 201 with the key's fields and
    /// its `secret`.
    func create(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let admin = try context.require(.admin)
        let body = try await JSONBody.object(request, context: context)
        var errors = RequestFields.unknown(body, allowed: ["name", "role", "approval_limits", "approval_limit_minor"])
        let name = body["name"]?.stringValue ?? ""
        if name.isEmpty || name.schemaLength > 200 { errors.append(FieldError("name", "is required: 1-200 characters")) }
        let role = body["role"]?.stringValue.flatMap(Role.init(rawValue:))
        if role == nil {
            errors.append(FieldError("role", "must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))"))
        }
        var limits: [String: Int64]?
        switch body["approval_limits"] {
        case nil, .null?: break
        case let json?:
            do { limits = try Reviewer.limits(from: json) } catch { errors += error.errors }
        }
        if let legacy = body["approval_limit_minor"], legacy != .null {
            errors.append(FieldError("approval_limit_minor", "limits are per currency now: use approval_limits, e.g. {\"USD\": 50000}"))
        }
        guard errors.isEmpty, let role else { throw Refusal.invalid(errors) }
        let created = try await keys.create(name: name, role: role, approvalLimits: limits, by: admin.id)
        var fields = created.key.json.objectValue ?? [:]
        fields["secret"] = .string(created.secret)
        return JSONResponse(.object(fields), status: .created)
    }

    func list(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(.admin)
        return JSONResponse(.object(["keys": .array(try await keys.all().map(\.json))]))
    }

    func revoke(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let admin = try context.require(.admin)
        let id = try context.parameters.require("id")
        return JSONResponse(try await keys.revoke(id: id, by: admin.id).json)
    }
}

extension ApiKey {
    /// The key as the API shows it (never a secret).
    var json: JSONValue {
        .object([
            "id": .string(id), "name": .string(name), "role": .string(role.rawValue),
            "approval_limits": approvalLimits.map { .object($0.mapValues(JSONValue.int)) } ?? .null,
            "created_at": .string(createdAt), "revoked_at": revokedAt.map(JSONValue.string) ?? .null,
        ])
    }
}
