import ArbiterApp
import ArbiterCore
import Foundation
import Hummingbird

/// `/v1/audit`: auditors read the hash-chained trail (the whole story of one correlation id:
/// case, request, decision, review, ERP delivery, in order) and have the server recompute it.
struct AuditController {
    let trail: AuditTrail

    var endpoints: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .get(use: list)
            .get("verify", use: verify)
            .get("checkpoint", use: checkpoint)
    }

    /// The newest signed checkpoint of the chain's head: keep it outside the service, and
    /// `arbiter audit verify --checkpoint FILE` shows whether the log still holds that entry.
    func checkpoint(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(.auditor)
        return JSONResponse(try await trail.latestCheckpoint().json)
    }

    /// `?after_seq=&limit=&kind=&actor=&subject=&correlation_id=&from=&to=`: oldest first; `next_cursor`
    /// (the `after_seq` of the next page) is null on the last page.
    func list(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(.auditor)
        let filter = try AuditFilter.parse(request.queryFields)
        let page = try await trail.entries(filter)
        return JSONResponse(.object([
            "items": .array(page.entries.map(\.json)),
            "next_cursor": page.next.map { .string(String($0)) } ?? .null,
        ]))
    }

    /// Recomputes the whole chain on the server: intact (count, last hash) or the first broken entry.
    func verify(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(.auditor)
        switch try await trail.verify() {
        case .intact(let count, let lastHash):
            return JSONResponse(.object(["status": "intact", "entries": .int(count), "last_hash": .string(lastHash)]))
        case .broken(let seq, let reason):
            return JSONResponse(.object(["status": "broken", "seq": .int(seq), "reason": .string(reason)]))
        }
    }
}
