import ArbiterApp
import ArbiterCore
import Foundation
import Hummingbird
import NIOCore

/// `/v1/reconciliations`: auditors and operators reconcile Arbiter's money actions with the ERP's
/// books (an uploaded CSV, or a pull through a target), read the report and its signed manifest,
/// and work the exceptions (operators resolve them). Mappings are saved under `mappings/`.
struct ReconciliationsController {
    let reconciliations: Reconciliations

    static let readers: [Role] = [.auditor, .operator]
    /// The largest ERP file taken (an ERP's export of a year of credits fits many times over).
    static let uploadLimit = 1 << 30

    var endpoints: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .post(use: create)
            .get(use: list)
            .get("exceptions", use: exceptions)
            .get("exceptions/:id", use: exception)
            .post("exceptions/:id/resolve", use: resolve)
            .post("exceptions/:id/assign", use: assign)
            .get("mappings", use: mappings)
            .get("mappings/:name", use: mapping)
            .put("mappings/:name", use: saveMapping)
            .delete("mappings/:name", use: removeMapping)
            .get(":id", use: get)
            .get(":id/report", use: report)
            .get(":id/csv", use: csv)
            .get(":id/manifest", use: manifest)
            .get(":id/erp-file", use: erpFile)
    }

    /// Upload: the ERP's CSV as the body (`Content-Type: text/csv`) with `mapping`, `from`, `to`,
    /// `stale_after`? as query parameters. Pull: a JSON body `{"pull": "<target>", "from", "to",
    /// "mapping"?, "stale_after"?}`. 201 with the run once its report is written and recorded.
    func create(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(Self.readers)
        let type = request.headers[.contentType]?.lowercased() ?? ""
        let run: ReconciliationRun
        do {
            if type.hasPrefix("text/csv") || type.hasPrefix("application/csv") || type.hasPrefix("application/octet-stream") {
                let parsed = try ReconciliationRequest.parse(request.queryFields.mapValues(JSONValue.string), upload: true)
                _ = try await reconciliations.mapping(named: parsed.mapping)   // refused before the upload is read
                let file = try await upload(request)
                run = try await reconciliations.run(parsed, erpFile: file, by: caller.id)
            } else {
                let body = try await JSONBody.object(request, context: context)
                run = try await reconciliations.run(try ReconciliationRequest.parse(body, upload: false), erpFile: nil, by: caller.id)
            }
        } catch let failure as ERPPullFailure {
            throw Problem(status: .badGateway, title: "ERP pull failed", detail: failure.description)
        }
        return JSONResponse(run.json, status: .created)
    }

    /// The body, streamed to a file beside the runs (at most ``uploadLimit`` bytes).
    func upload(_ request: Request) async throws -> URL {
        let file = reconciliations.directory.appendingPathComponent(".upload-\(Identifier.make())")
        guard FileManager.default.createFile(atPath: file.path, contents: nil, attributes: [.posixPermissions: 0o600]),
              let handle = try? FileHandle(forWritingTo: file) else {
            throw Problem(status: .internalServerError, title: "Cannot store the upload", detail: "\(file.path) cannot be written")
        }
        do {
            defer { try? handle.close() }
            var written = 0
            for try await buffer in request.body {
                written += buffer.readableBytes
                guard written <= Self.uploadLimit else {
                    throw Problem(status: .contentTooLarge, title: "Body too large", detail: "the ERP's file must be at most \(Self.uploadLimit) bytes")
                }
                try handle.write(contentsOf: buffer.readableBytesView)
            }
            guard written > 0 else { throw Refusal.invalid("erp_file", "the body is empty: send the ERP's export (CSV with its header row)") }
            return file
        } catch {
            try? FileManager.default.removeItem(at: file)
            throw error
        }
    }

    /// Runs, newest first. `?cursor=&limit=`
    func list(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.readers)
        var errors: [FieldError] = []
        let limit = RequestFields.limit(request.uri.queryParameters["limit"], &errors)
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        let page = try await reconciliations.runs(after: request.uri.queryParameters["cursor"].map(String.init), limit: limit)
        return JSONResponse(.object(["items": .array(page.items.map(\.json)), "next_cursor": .text(page.next)]))
    }

    func get(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.readers)
        return JSONResponse(try await found(context).json)
    }

    private func found(_ context: AppRequestContext) async throws -> ReconciliationRun {
        let id = try context.parameters.require("id")
        guard let run = try await reconciliations.run(id: id) else { throw Refusal.notFound("no reconciliation with id '\(id)'") }
        return run
    }

    /// One of a run's files, streamed from disk.
    private func file(_ name: String, type: String, _ context: AppRequestContext) async throws -> Response {
        _ = try context.require(Self.readers)
        let run = try await found(context)
        guard let folder = reconciliations.folder(run.id) else {
            throw Refusal.notFound("reconciliation \(run.id)'s files are not in this instance's reconciliations directory (share it between instances)")
        }
        let body = try await FileIO().loadFile(path: folder.appendingPathComponent(name).path, context: context)
        return Response(status: .ok, headers: [.contentType: type, .contentDisposition: "attachment; filename=\"\(name)\""], body: body)
    }

    func report(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await file(ReconciliationReport.jsonName, type: "application/json", context)
    }

    func csv(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await file(ReconciliationReport.csvName, type: "text/csv; charset=utf-8; header=present", context)
    }

    func manifest(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await file("manifest.json", type: "application/json", context)
    }

    func erpFile(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await file("erp.csv", type: "text/csv; charset=utf-8; header=present", context)
    }

    /// `?state=open|resolved&mapping=&run=&cursor=&limit=`, in id order.
    func exceptions(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.readers)
        let query = request.uri.queryParameters
        var errors: [FieldError] = []
        let state = query["state"].map(String.init)
        if let state, !["open", "resolved"].contains(state) { errors.append(FieldError("state", "must be open or resolved")) }
        let limit = RequestFields.limit(query["limit"], &errors)
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        let page = try await reconciliations.exceptions(state: state, mapping: query["mapping"].map(String.init), run: query["run"].map(String.init),
                                                        after: query["cursor"].map(String.init), limit: limit)
        return JSONResponse(.object(["items": .array(page.items.map(\.json)), "next_cursor": .text(page.next)]))
    }

    func exception(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.readers)
        let id = try context.parameters.require("id")
        guard let exception = try await reconciliations.exception(id: id) else {
            throw Refusal.notFound("no reconciliation exception with id '\(id)'")
        }
        return JSONResponse(exception.json)
    }

    /// `{"resolution": "resend"|"cancel"|"accept", "comment"}` (a comment is required to accept).
    func resolve(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.operator)
        let id = try context.parameters.require("id")
        let body = try await JSONBody.object(request, context: context)
        var errors = RequestFields.unknown(body, allowed: ["resolution", "comment"])
        let comment = RequestFields.comment(body, &errors)
        let resolution = body["resolution"]?.stringValue.flatMap(ReconciliationException.Resolution.init(rawValue:))
        if resolution == nil || resolution == .matched { errors.append(FieldError("resolution", "is required: resend, cancel or accept")) }
        guard errors.isEmpty, let resolution else { throw Refusal.invalid(errors) }
        return JSONResponse(try await reconciliations.resolve(id: id, resolution, by: caller.id, comment: comment).json)
    }

    /// `{"owner": "<key id or person>"|null}`
    func assign(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.operator)
        let id = try context.parameters.require("id")
        let body = try await JSONBody.object(request, context: context)
        var errors = RequestFields.unknown(body, allowed: ["owner"])
        var owner: String?
        switch body["owner"] {
        case .null?: owner = nil
        case .string(let text)? where !text.isEmpty && text.count <= 200: owner = text
        default: errors.append(FieldError("owner", "is required: who works the exception (1 to 200 characters), or null for nobody"))
        }
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        return JSONResponse(try await reconciliations.assign(id: id, owner: owner, by: caller.id).json)
    }

    func mappings(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.readers)
        let all = try await reconciliations.mappings()
        return JSONResponse(.object(["items": .array(all.map { .object(["name": .string($0.name), "origin": .string($0.origin),
                                                                         "definition": $0.definition]) }),
                                     "pull_targets": .array(reconciliations.pullTargets.map(JSONValue.string))]))
    }

    func mapping(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.readers)
        let name = try context.parameters.require("name")
        guard let found = try await reconciliations.mappings().first(where: { $0.name == name }) else {
            throw Refusal.notFound("no saved mapping named '\(name)'")
        }
        return JSONResponse(.object(["name": .string(found.name), "origin": .string(found.origin), "definition": found.definition]))
    }

    /// The body is the mapping (``ERPColumnMapping``'s JSON); 201 new, 200 replaced.
    func saveMapping(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.operator)
        let name = try context.parameters.require("name")
        var body = try await JSONBody.object(request, context: context)
        // The path names it; a name in the body is checked (a string), then left out.
        if let name = body["name"], name.stringValue == nil { throw Refusal.invalid("name", "must be a string (the path names the mapping)") }
        body["name"] = nil
        let created = try await reconciliations.saveMapping(name: name, definition: .object(body), by: caller.id)
        return JSONResponse(.object(["name": .string(name), "origin": "api", "definition": .object(body)]), status: created ? .created : .ok)
    }

    func removeMapping(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try context.require(.operator)
        let name = try context.parameters.require("name")
        guard try await reconciliations.removeMapping(name: name, by: caller.id) else {
            throw Refusal.notFound("no mapping named '\(name)' saved through the API")
        }
        return Response(status: .noContent)
    }
}
