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
        if name.isEmpty || name.unicodeScalars.count > 200 { errors.append(FieldError("name", "is required: 1-200 characters")) }
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

/// Reads a JSON object body (at most 1 MiB), or throws the problem a client should see.
enum JSONBody {
    static let limit = 1 << 20

    /// With `allowEmpty`, an empty body reads as `{}` (for commands whose fields are all optional).
    static func object(_ request: Request, context: AppRequestContext, allowEmpty: Bool = false) async throws -> [String: JSONValue] {
        let buffer = try await bytes(request, limit: limit)
        if allowEmpty && buffer.readableBytesView.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return [:] }
        guard let value = try? JSONValue.parse(Data(buffer.readableBytesView)) else {
            // A body that parses as JSON is accepted whatever its Content-Type (curl's -d sends
            // form encoding); one that does not is 415 when declared as something else, else 400.
            if let type = request.headers[.contentType], !type.lowercased().contains("json") {
                throw Problem(status: .unsupportedMediaType, title: "Unsupported media type",
                              detail: "the body must be JSON (application/json), not \(type)")
            }
            throw Problem(status: .badRequest, title: "Not JSON", detail: "the body must be a JSON object")
        }
        guard let object = value.objectValue else {
            throw Problem(status: .unprocessableContent, title: "Invalid request", detail: "the body must be a JSON object",
                          errors: [FieldError("", "must be an object, got \(value.typeName)")])
        }
        return object
    }

    /// The whole body, or the 413 problem when it is longer than `limit` bytes.
    static func bytes(_ request: Request, limit: Int) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: limit)
        } catch {
            throw Problem(status: .contentTooLarge, title: "Body too large", detail: "the body must be at most \(limit) bytes")
        }
    }
}
