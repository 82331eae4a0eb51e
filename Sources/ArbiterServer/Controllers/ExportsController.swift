import ArbiterApp
import ArbiterCore
import Foundation
import Hummingbird

/// `/v1/exports`: auditors export decisions or the audit trail to a file in the data directory
/// with a signed manifest, and fetch both (see ``Exports`` for the manifest and
/// ``ExportManifest`` for the check an auditor runs offline).
struct ExportsController {
    let jobs: ExportJobs

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
        return JSONResponse(.object(["algorithm": "Ed25519", "public_key": .string(jobs.signingKey.publicKeyText),
                                     "key_id": .string(jobs.signingKey.keyId)]))
    }

    /// `{"kind": "decisions"|"audit", "from", "to", "format": "jsonl"|"csv", "filters": {…}}` →
    /// 201 with the id and the signed manifest once the file is written and synced, or 202 with
    /// the id to poll when the export takes longer than the request waits.
    func create(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.auditor)
        let export = try ExportRequest.parse(try await JSONBody.object(request, context: context))
        let started: (id: String, status: ExportJobs.Status)
        do {
            started = try await jobs.start(export, by: caller.id)
        } catch let busy as ExportJobs.Busy {
            throw Refusal.conflict("\(busy.running.count) exports are running (\(busy.running.joined(separator: ", "))); try again when one is done",
                                  title: "Exports busy")
        }
        if case .failed(let error) = started.status {
            throw Problem(status: .internalServerError, title: "Export failed", detail: "export \(started.id) failed: \(error)")
        }
        let body = Self.json(started.id, started.status)
        if case .done = started.status { return JSONResponse(body, status: .created) }
        return JSONResponse(body, status: .accepted)
    }

    /// `{"id", "status": "done", "manifest"}`, `{"id", "status": "running", "rows_written"}` or
    /// `{"id", "status": "failed", "error"}`.
    static func json(_ id: String, _ status: ExportJobs.Status) -> JSONValue {
        switch status {
        case .done(let manifest): .object(["id": .string(id), "status": "done", "manifest": manifest])
        case .running(let rows): .object(["id": .string(id), "status": "running", "rows_written": .int(Int64(rows))])
        case .failed(let error): .object(["id": .string(id), "status": "failed", "error": .string(error)])
        }
    }

    private func notFound(_ id: String) -> Refusal {
        Refusal.notFound("no finished export with id '\(id)'")
    }

    func status(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(.auditor)
        let id = try context.parameters.require("id")
        guard let status = try jobs.status(id) else {
            throw Refusal.notFound("no export with id '\(id)'")
        }
        return JSONResponse(Self.json(id, status))
    }

    private func readManifest(_ context: AppRequestContext) throws -> (URL, JSONValue) {
        let id = try context.parameters.require("id")
        guard let folder = jobs.finished(id) else { throw notFound(id) }
        return (folder, try JSONValue.parse(Data(contentsOf: folder.appendingPathComponent("manifest.json"))))
    }

    func manifest(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(.auditor)
        return JSONResponse(try readManifest(context).1)
    }

    /// The export file, streamed from disk.
    func file(_ request: Request, context: AppRequestContext) async throws -> Response {
        _ = try context.require(.auditor)
        let (folder, manifest) = try readManifest(context)
        guard let name = manifest["file"]?.stringValue, !name.contains("/"),
              let format = manifest["format"]?.stringValue.flatMap(ExportRequest.Format.init(rawValue:)) else {
            throw Problem(status: .internalServerError, title: "Unreadable export", detail: "the manifest names no file")
        }
        let body = try await FileIO().loadFile(path: folder.appendingPathComponent(name).path, context: context)
        return Response(status: .ok, headers: [.contentType: format.contentType,
                                               .contentDisposition: "attachment; filename=\"\(name)\""], body: body)
    }
}
