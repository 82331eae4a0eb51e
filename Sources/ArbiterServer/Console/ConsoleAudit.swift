import ArbiterApp
import ArbiterCore
import Foundation
import Hummingbird

/// The auditor's pages (`/console/audit`, role `auditor`): the trail with filters and paging, one
/// correlation id's story as a timeline, the chain's status and the newest signed checkpoint, and
/// exports — the same use cases as `/v1/audit` and `/v1/exports`.
extension Console {
    func addAuditRoutes(to console: RouterGroup<AppRequestContext>) {
        console.get("audit", use: auditPage)
        console.get("audit/story", use: storyPage)
        console.get("audit/exports", use: exportsPage)
        console.post("audit/exports", use: startExport)
        console.get("audit/exports/:id", use: exportPage)
        console.get("audit/exports/:id/file", use: exportFile)
        console.get("audit/exports/:id/manifest", use: exportManifest)
    }

    /// What an entry's kind means, for a person.
    static func kindTitle(_ kind: String) -> String {
        [
            "event.received": "Event received", "decision.made": "Decided", "review.claimed": "Claimed for review",
            "review.released": "Released", "review.approved": "Approved by a reviewer", "review.rejected": "Rejected by a reviewer",
            "review.escalated": "Escalated", "review.assigned": "Assigned", "review.claim_expired": "Claim expired",
            "action.delivered": "Delivered", "action.attempt_failed": "Delivery attempt failed", "action.dead_lettered": "Dead letter", "action.retried": "Retried", "action.cancelled": "Cancelled", "action.resent": "Sent again",
            "inbound.received": "Webhook received", "inbound.processed": "Webhook processed", "inbound.replayed": "Webhook replayed",
            "reconciliation.completed": "Reconciled", "reconciliation.exception_resolved": "Reconciliation exception resolved",
            "policy.published": "Policy published", "policy.activated": "Policy activated",
        ][kind] ?? kind
    }

    /// The few data fields that tell the step's story (the whole entry is in the trail).
    static func highlights(_ data: JSONValue) -> String {
        let keys = ["outcome", "queue", "amount_minor", "reference", "erp_reference", "status", "comment", "reason", "reasons", "version", "target"]
        return keys.compactMap { key -> String? in
            guard let value = data[key], value != .null else { return nil }
            if key == "amount_minor", let minor = value.intValue {
                // With its currency when the entry names it; else said to be in minor units.
                return "Amount: " + (data["currency"]?.stringValue.flatMap { ConsoleFormat.money(minor, $0) } ?? "\(minor) (minor units)")
            }
            return "\(ConsoleFormat.label(key)): \(ConsoleFormat.text(value))"
        }.joined(separator: " · ")
    }

    func entryRows(_ entries: [AuditEntry], names: [String: String]) -> [[String: Any]] {
        entries.map { entry in
            ConsoleFormat.present([
                "seq": entry.seq, "at": ConsoleFormat.time(entry.at) ?? entry.at, "actor": names[entry.actor] ?? entry.actor,
                "kind": entry.kind, "kindTitle": Self.kindTitle(entry.kind), "subject": entry.subject,
                "correlation": entry.correlationId, "correlationPath": entry.correlationId.map(PercentEncoding.unreserved),
                "details": Self.highlights(entry.data),
            ])
        }
    }

    func auditPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        if let refused = forbidden(user, "The audit trail", [.auditor]) { return refused }
        let query = request.queryFields
        var view: [String: Any] = ["filters": ["from", "to", "kind", "actor", "subject", "correlation_id"].map { ["name": $0, "label": ConsoleFormat.label($0), "value": query[$0] ?? ""] }]
        do {
            var filter = try AuditFilter.parse(query.filter { !$0.value.trimmingCharacters(in: .whitespaces).isEmpty })
            if query["limit"] == nil { filter.limit = 50 }
            let page = try await trail.entries(filter)
            let rows = entryRows(page.entries, names: try await desk.keyNames())
            view["entries"] = rows
            view["empty"] = rows.isEmpty
            if let next = page.next {
                var nextQuery = query.filter { !$0.value.isEmpty && $0.key != "after_seq" }
                nextQuery["after_seq"] = String(next)
                view["next"] = "/console/audit?" + nextQuery.sorted { $0.key < $1.key }.map { "\($0.key)=\(PercentEncoding.unreserved($0.value))" }.joined(separator: "&")
            }
        } catch let refusal as Refusal {
            view["error"] = ConsoleFormat.plainWords(refusal)
        }
        if query["verify"] != nil {
            switch try await trail.verify() {
            case .intact(let count, let lastHash):
                view["chain"] = "Intact: all \(count) entries recomputed, each linked to the one before; the last hash is \(lastHash)."
                view["chainIntact"] = true
            case .broken(let seq, let reason):
                view["chain"] = "Broken at entry \(seq): \(reason). Entries before it are intact."
            }
        }
        if let checkpoint = try? await trail.latestCheckpoint() {
            view["checkpoint"] = ["seq": checkpoint.seq, "at": ConsoleFormat.time(checkpoint.at) ?? checkpoint.at, "keyId": checkpoint.keyId,
                                  "json": CanonicalJSON.string(checkpoint.json)]
        }
        return html(title: "Audit trail", template: "audit", view, user: user, path: "/console/audit")
    }

    /// One correlation id's story: every audit entry that carries it, oldest first, as a timeline.
    func storyPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        if let refused = forbidden(user, "A correlation id's story", [.auditor]) { return refused }
        let id = (request.uri.queryParameters["correlation_id"].map(String.init) ?? "").trimmingCharacters(in: .whitespaces)
        var view: [String: Any] = ["correlation": id]
        if !id.isEmpty {
            var filter = AuditFilter()
            filter.correlationId = id
            filter.limit = 500
            let steps = entryRows(try await trail.entries(filter).entries, names: try await desk.keyNames())
            view["steps"] = steps
            view["empty"] = steps.isEmpty
            view["count"] = steps.count
        }
        return html(title: id.isEmpty ? "A story" : "Story of \(id)", template: "story", view, user: user, path: "/console/audit/story")
    }

    // MARK: Exports

    func exportsPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        if let refused = forbidden(user, "Exports", [.auditor]) { return refused }
        return exportForm(user: user, values: [:], error: nil, status: .ok)
    }

    func exportForm(user: ConsoleUser, values: [String: String], error: String?, status: HTTPResponse.Status) -> Response {
        let now = Date()
        let defaults = ["from": Timestamp.format(now.addingTimeInterval(-30 * 86400)).prefix(10) + "T00:00:00Z",
                        "to": Timestamp.format(now.addingTimeInterval(86400)).prefix(10) + "T00:00:00Z"]
        func value(_ name: String) -> String { values[name] ?? defaults[name].map(String.init) ?? "" }
        let view = ConsoleFormat.present([
            "csrf": user.csrf, "error": error, "from": value("from"), "to": value("to"),
            "kinds": [("decisions", "Decisions"), ("audit", "Audit entries")].map { ["value": $0.0, "label": $0.1, "selected": value("kind") == $0.0] },
            "formats": [("jsonl", "JSON lines"), ("csv", "CSV")].map { ["value": $0.0, "label": $0.1, "selected": value("format") == $0.0] },
            "filters": ["outcome", "queue", "policy", "account_id", "actor", "entry_kind"].map { ["name": $0, "label": ConsoleFormat.label($0), "value": value($0)] },
        ])
        return html(title: "Exports", template: "exports", view, user: user, status: status, path: "/console/audit/exports")
    }

    struct ExportForm: Decodable {
        let csrf: String?
        let kind: String?
        let format: String?
        let from: String?
        let to: String?
        let outcome: String?
        let queue: String?
        let policy: String?
        let account_id: String?
        let actor: String?
        let entry_kind: String?
    }

    func startExport(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        if let refused = forbidden(user, "Exports", [.auditor]) { return refused }
        let form = try await Self.form(ExportForm.self, request)
        var values: [String: String] = [:]
        for (name, value) in [("kind", form.kind), ("format", form.format), ("from", form.from), ("to", form.to), ("outcome", form.outcome),
                              ("queue", form.queue), ("policy", form.policy), ("account_id", form.account_id), ("actor", form.actor),
                              ("entry_kind", form.entry_kind)] {
            if let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty { values[name] = value }
        }
        if let refused = formRefusal(user, csrf: form.csrf) {
            return exportForm(user: user, values: values, error: refused, status: .forbidden)
        }
        // The request as the API reads it: the same rules, the same words.
        var filters: [String: JSONValue] = [:]
        for (name, field) in [("outcome", "outcome"), ("queue", "queue"), ("policy", "policy"), ("account_id", "account_id"), ("actor", "actor"),
                              ("entry_kind", "kind")] {
            if let value = values[name] { filters[field] = .string(value) }
        }
        do {
            let export = try ExportRequest.parse(["kind": values["kind"].map(JSONValue.string) ?? .null, "format": .string(values["format"] ?? "jsonl"),
                                                  "from": values["from"].map(JSONValue.string) ?? .null, "to": values["to"].map(JSONValue.string) ?? .null,
                                                  "filters": .object(filters)])
            let started = try await exports.start(export, by: user.key.id)
            return Self.redirect("/console/audit/exports/\(Self.pathComponent(started.id))")
        } catch let refusal as Refusal {
            return exportForm(user: user, values: values, error: ConsoleFormat.plainWords(refusal), status: Problem(refusal).status)
        } catch is ExportJobs.Busy {
            return exportForm(user: user, values: values, error: "Two exports are running already. Try again when one is done.", status: .conflict)
        }
    }

    func exportPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        if let refused = forbidden(user, "Exports", [.auditor]) { return refused }
        let id = try context.parameters.require("id")
        guard let status = try exports.status(id) else {
            return html(title: "Not found", template: "message", ["message": "There is no export \(id)."], user: user, status: .notFound)
        }
        var view: [String: Any] = ["id": id, "path": Self.pathComponent(id)]
        switch status {
        case .running(let rows):
            view["running"] = true
            view["rows"] = rows
        case .failed(let error):
            view["failed"] = error
        case .done(let manifest):
            view["done"] = true
            view["kind"] = ConsoleFormat.text(manifest["kind"])
            view["format"] = ConsoleFormat.text(manifest["format"])
            view["rows"] = ConsoleFormat.text(manifest["rows"])
            view["file"] = ConsoleFormat.text(manifest["file"])
            view["range"] = "\(ConsoleFormat.time(manifest["from"]?.stringValue) ?? "?") to \(ConsoleFormat.time(manifest["to"]?.stringValue) ?? "?")"
            view["sha256"] = ConsoleFormat.text(manifest["file_sha256"])
            view["keyId"] = ConsoleFormat.text(manifest["key_id"])
            view["publicKey"] = exports.signingKey.publicKeyText
        }
        var response = html(title: "Export \(id)", template: "export", view, user: user, path: "/console/audit/exports")
        // While it runs, the page looks again every two seconds (a refresh, no script).
        if view["running"] != nil { response.headers[.init("Refresh")!] = "2" }
        return response
    }

    func exportFile(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await exportDownload(request, context: context, manifestOnly: false)
    }

    func exportManifest(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await exportDownload(request, context: context, manifestOnly: true)
    }

    func exportDownload(_ request: Request, context: AppRequestContext, manifestOnly: Bool) async throws -> Response {
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        if let refused = forbidden(user, "Exports", [.auditor]) { return refused }
        let id = try context.parameters.require("id")
        guard let folder = exports.finished(id),
              let manifest = try? JSONValue.parse(Data(contentsOf: folder.appendingPathComponent("manifest.json"))),
              let name = manifest["file"]?.stringValue, !name.contains("/"),
              let format = manifest["format"]?.stringValue.flatMap(ExportRequest.Format.init(rawValue:)) else {
            return html(title: "Not found", template: "message", ["message": "There is no finished export \(id)."], user: user, status: .notFound)
        }
        let file = manifestOnly ? "manifest.json" : name
        let type = manifestOnly ? "application/json" : format.contentType
        let body = try await FileIO().loadFile(path: folder.appendingPathComponent(file).path, context: context)
        return Response(status: .ok, headers: [.contentType: type, .contentDisposition: "attachment; filename=\"\(file)\"", .cacheControl: "no-store"],
                        body: body)
    }
}
