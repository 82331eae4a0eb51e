import ArbiterCore
import ArbiterStore
import Foundation
import Hummingbird

/// `/v1/audit`: auditors read the hash-chained trail (the whole story of one correlation id:
/// case, request, decision, review, ERP delivery, in order) and have the server recompute it.
struct AuditController {
    let database: AppDatabase

    var endpoints: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .get(use: list)
            .get("verify", use: verify)
    }

    /// `?after_seq=&limit=&kind=&actor=&subject=&correlation_id=`: oldest first; `next_cursor`
    /// (the `after_seq` of the next page) is null on the last page.
    func list(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(.auditor)
        let query = request.uri.queryParameters
        var errors: [FieldError] = []
        var filter = AuditLog.Filter()
        if let after = query["after_seq"] {
            if let n = Int64(after), n >= 0 { filter.afterSeq = n }
            else { errors.append(FieldError("after_seq", "must be a non-negative integer (an entry's seq)")) }
        }
        filter.limit = RequestFields.limit(query["limit"], default: 100, &errors)
        filter.kind = query["kind"].map(String.init)
        filter.actor = query["actor"].map(String.init)
        filter.subject = query["subject"].map(String.init)
        filter.correlationId = query["correlation_id"].map(String.init)
        if !errors.isEmpty { throw Problem.invalid(InvalidInput(errors)) }
        let page = try await database.writer.read { [filter] db in try AuditLog.query(db, filter) }
        return JSONResponse(.object([
            "items": .array(page.entries.map(\.json)),
            "next_cursor": page.next.map { .string(String($0)) } ?? .null,
        ]))
    }

    /// Recomputes the whole chain on the server: intact (count, last hash) or the first broken entry.
    func verify(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(.auditor)
        switch try await database.verifyAudit() {
        case .intact(let count, let lastHash):
            return JSONResponse(.object(["status": "intact", "entries": .int(count), "last_hash": .string(lastHash)]))
        case .broken(let seq, let reason):
            return JSONResponse(.object(["status": "broken", "seq": .int(seq), "reason": .string(reason)]))
        }
    }
}

/// `/v1/exports`: auditors export the audit trail to a file in the data directory with a
/// signed manifest, and fetch both (see ``ExportManifest`` for the check an auditor runs).
/// Built so far: `kind` audit in JSON lines; decision exports, CSV and masking come next.
struct ExportsController {
    let database: AppDatabase
    let signingKey: ExportSigningKey
    /// One directory per export: `<id>/audit.jsonl` and `<id>/manifest.json`.
    let directory: String

    var endpoints: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .get("public-key", use: publicKey)
            .post(use: create)
            .get(":id", use: status)
            .get(":id/manifest", use: manifest)
            .get(":id/file", use: file)
    }

    func publicKey(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(.auditor)
        return JSONResponse(.object(["algorithm": "Ed25519", "public_key": .string(signingKey.publicKeyText),
                                     "key_id": .string(signingKey.keyId)]))
    }

    /// `{"kind": "audit", "from", "to", "format": "jsonl", "filters": {"actor"?, "kind"?}}` →
    /// 201 with the id and the signed manifest, once the file is written and synced.
    func create(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.auditor)
        let body = try await JSONBody.object(request, context: context)
        var errors = RequestFields.unknown(body, allowed: ["kind", "from", "to", "format", "filters"])
        switch body["kind"]?.stringValue {
        case "audit"?: break
        case "decisions"?: errors.append(FieldError("kind", "decision exports are not available yet; export kind audit"))
        default: errors.append(FieldError("kind", "is required: audit"))
        }
        switch body["format"] {
        case nil, .string("jsonl")?: break
        default: errors.append(FieldError("format", "must be jsonl (CSV is not available yet)"))
        }
        let from = RequestFields.time(body, "from", &errors), to = RequestFields.time(body, "to", &errors)
        if let from, let to, from >= to { errors.append(FieldError("to", "must be after from")) }
        var filters: [String: JSONValue] = [:]
        switch body["filters"] {
        case nil, .null?: break
        case .object(let given)?:
            errors += RequestFields.unknown(given, allowed: ["actor", "kind"]).map { FieldError("filters.\($0.field)", $0.message) }
            for (name, value) in given where ["actor", "kind"].contains(name) {
                if case .string = value { filters[name] = value } else { errors.append(FieldError("filters.\(name)", "must be a string")) }
            }
        default: errors.append(FieldError("filters", "must be an object"))
        }
        guard errors.isEmpty, let from, let to else { throw Problem.invalid(InvalidInput(errors)) }

        let filter = AuditExport.Filter(from: from, to: to, actor: filters["actor"]?.stringValue, kind: filters["kind"]?.stringValue)
        let (directory, signingKey, database) = (directory, signingKey, database)
        let id = Identifier.make(now: Date())
        let manifest = try await database.writer.read { db in
            try AuditExport.export(db, filter, id: id, to: URL(fileURLWithPath: directory).appendingPathComponent(id), by: caller.id,
                                   key: signingKey)
        }
        return JSONResponse(.object(["id": manifest["id"] ?? .null, "status": "done", "manifest": manifest]), status: .created)
    }

    private func exportDirectory(_ context: AppRequestContext) throws -> URL {
        let id = try context.parameters.require("id")
        // Ids are ours (UUIDv7): anything else, path tricks included, is simply not found.
        guard id.allSatisfy({ $0.isHexDigit || $0 == "-" }),
              FileManager.default.fileExists(atPath: URL(fileURLWithPath: directory).appendingPathComponent(id).appendingPathComponent("manifest.json").path) else {
            throw Problem(status: .notFound, title: "Not found", detail: "no export with id '\(id)'")
        }
        return URL(fileURLWithPath: directory).appendingPathComponent(id)
    }

    private func readManifest(_ directory: URL) throws -> JSONValue {
        try JSONValue.parse(Data(contentsOf: directory.appendingPathComponent("manifest.json")))
    }

    func status(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(.auditor)
        let folder = try exportDirectory(context)
        let manifest = try readManifest(folder)
        return JSONResponse(.object(["id": manifest["id"] ?? .null, "status": "done", "manifest": manifest]))
    }

    func manifest(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(.auditor)
        return JSONResponse(try readManifest(try exportDirectory(context)))
    }

    /// The export file, streamed from disk.
    func file(_ request: Request, context: AppRequestContext) async throws -> Response {
        _ = try context.require(.auditor)
        let folder = try exportDirectory(context)
        let name = try readManifest(folder)["file"]?.stringValue ?? "audit.jsonl"
        let path = folder.appendingPathComponent(name).path
        let body = try await FileIO().loadFile(path: path, context: context)
        return Response(status: .ok, headers: [.contentType: "application/x-ndjson",
                                               .contentDisposition: "attachment; filename=\"\(name)\""], body: body)
    }
}
