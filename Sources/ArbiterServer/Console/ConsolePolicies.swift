import ArbiterApp
import ArbiterCore
import Foundation
import Hummingbird
import MultipartKit

/// The policy workbench (`/console/policies`): policies with their active, shadow and draft
/// versions and pending proposals; a version's source with line numbers, its tests run now, its
/// history and a diff against any other version; publishing with the API's gate (compile, tests)
/// and its errors shown at their lines; activate (or propose), approve, roll back, deactivate,
/// shadow — through ``PolicyLifecycle`` and ``PolicyControls``, as `/v1/policies`. Policy admins
/// act; the other roles read.
extension Console {
    static let policyReaders: [Role] = [.policyAdmin, .auditor, .reviewer, .operator]

    func addPolicyRoutes(to console: RouterGroup<AppRequestContext>) {
        console.get("policies", use: policiesPage)
        addSimulateRoutes(to: console)
        addBacktestRoutes(to: console)
        console.get("policies/publish", use: publishPage)
        console.post("policies/publish", use: publishVersion)
        console.get("policies/:name", use: policyPage)
        console.post("policies/:name/:command", use: policyCommand)
        console.get("policies/:name/versions/:version", use: versionPage)
        console.post("policies/:name/versions/:version/:command", use: versionCommand)
    }

    static func short(_ version: String?) -> String? { version.map { String($0.prefix(12)) } }

    func policiesPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        if let refused = forbidden(user, "The policy workbench", Self.policyReaders) { return refused }
        let names = try await desk.keyNames()
        let rows = try await policies.lifecycle.policies().map { policy -> [String: Any] in
            ConsoleFormat.present([
                "name": policy.name, "path": Self.pathComponent(policy.name), "active": Self.short(policy.activeVersion) ?? "none",
                "activePath": policy.activeVersion, "shadow": Self.short(policy.shadowVersion), "drafts": policy.drafts.count,
                "versions": policy.versionCount,
                "proposal": policy.pendingProposal.map { proposal in
                    "\(proposal.change.rawValue) \(Self.short(proposal.version) ?? "") proposed by \(names[proposal.proposedBy] ?? proposal.proposedBy), \(ConsoleFormat.time(proposal.proposedAt) ?? "")"
                },
            ])
        }
        return html(title: "Policies", template: "policies",
                    ["policies": rows, "canPublish": user.key.may([.policyAdmin]), "makerChecker": policies.requireApproval],
                    user: user, path: "/console/policies")
    }

    func policyPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        if let refused = forbidden(user, "The policy workbench", Self.policyReaders) { return refused }
        let name = try context.parameters.require("name")
        let notice = request.uri.queryParameters["done"].map(String.init).flatMap { Self.policyNotices[$0] }
        return try await policyView(name: name, user: user, notice: notice, error: nil, status: .ok)
    }

    static let policyNotices = [
        "activated": "Activated: the next event is decided by this version.",
        "proposed": "Proposed: a different policy admin must approve it before it decides anything.",
        "approved": "Approved and carried out.",
        "rolled-back": "Rolled back: the version active before is active again.",
        "deactivated": "Deactivated: the policy decides nothing until a version is activated.",
        "shadowing": "Running in shadow: it decides beside the active version, changing nothing.",
        "shadow-stopped": "The shadow run is stopped.",
        "published": "Published as a draft: it compiled and its tests pass. Nothing decides with it until it is activated.",
        "republished": "This source was published before: here is that version.",
    ]

    func policyView(name: String, user: ConsoleUser, notice: String?, error: String?, status: HTTPResponse.Status) async throws -> Response {
        let lifecycle = policies.lifecycle
        let versions: [PolicyVersionSummary]
        do {
            versions = try await lifecycle.versions(name: name)
        } catch let refusal as Refusal where refusal.kind == .notFound {
            return html(title: "Not found", template: "message", ["message": "There is no policy \(name)."], user: user, status: .notFound)
        }
        let names = try await desk.keyNames()
        let summary = try await lifecycle.policies().first { $0.name == name }
        let rows = versions.reversed().map { version -> [String: Any] in
            ConsoleFormat.present([
                "version": Self.short(version.version), "path": "/console/policies/\(Self.pathComponent(name))/versions/\(version.version)",
                "status": version.status, "publishedBy": names[version.publishedBy] ?? version.publishedBy,
                "publishedAt": ConsoleFormat.time(version.publishedAt), "activatedAt": ConsoleFormat.time(version.activatedAt),
            ])
        }
        let view = ConsoleFormat.present([
            "name": name, "path": Self.pathComponent(name), "csrf": user.csrf, "notice": notice, "error": error,
            "active": Self.short(summary?.activeVersion), "shadow": Self.short(summary?.shadowVersion),
            "proposal": summary?.pendingProposal.map { proposal -> [String: Any] in
                ["change": proposal.change.rawValue, "version": Self.short(proposal.version) ?? "",
                 "versionPath": "/console/policies/\(Self.pathComponent(name))/versions/\(proposal.version)",
                 "by": names[proposal.proposedBy] ?? proposal.proposedBy, "at": ConsoleFormat.time(proposal.proposedAt) ?? ""]
            },
            "versions": rows, "canAct": user.key.may([.policyAdmin]), "makerChecker": policies.requireApproval,
        ])
        return html(title: "Policy \(name)", template: "policy", view, user: user, status: status, path: "/console/policies")
    }

    func versionPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        if let refused = forbidden(user, "The policy workbench", Self.policyReaders) { return refused }
        let name = try context.parameters.require("name"), version = try context.parameters.require("version")
        let notice = request.uri.queryParameters["done"].map(String.init).flatMap { Self.policyNotices[$0] }
        let against = request.uri.queryParameters["against"].map(String.init)
        return try await versionView(name: name, version: version, against: against, user: user, notice: notice, error: nil, status: .ok)
    }

    func versionView(name: String, version: String, against: String?, user: ConsoleUser, notice: String?, error: String?,
                     status: HTTPResponse.Status) async throws -> Response {
        let lifecycle = policies.lifecycle
        let detail: PolicyVersionDetail
        do {
            detail = try await lifecycle.version(name: name, version: version)
        } catch let refusal as Refusal where refusal.kind == .notFound {
            return html(title: "Not found", template: "message", ["message": "Policy \(name) has no version \(version)."], user: user, status: .notFound)
        }
        let names = try await desk.keyNames()
        let summary = try await lifecycle.policies().first { $0.name == name }
        let others = try await lifecycle.versions(name: name).filter { $0.version != version }
        // Compared with the version asked for, else the active one (when it is another).
        let base = against ?? (summary?.activeVersion != version ? summary?.activeVersion : nil)
        var diff: [[String: Any]]?
        var diffNote: String?
        if let base {
            let old = try await lifecycle.version(name: name, version: base).source
            if let lines = ConsoleDiff.unified(old: old, new: detail.source) {
                diff = lines.map { line in
                    ConsoleFormat.present(["mark": line.mark, "old": line.oldNumber.map(String.init), "new": line.newNumber.map(String.init),
                                           "text": line.text, "kind": ["+": "added", "-": "removed", "…": "gap"][line.mark] ?? "same"])
                }
                if lines.isEmpty { diffNote = "The same source." }
            } else {
                diffNote = "Too long to compare here (over \(ConsoleDiff.limit) lines)."
            }
        }
        var tests: [[String: Any]] = []
        var testsError: String?
        do {
            tests = try await lifecycle.testResults(name: name, version: version).map { result in
                ConsoleFormat.present(["name": result.name, "passed": result.failure == nil, "failure": result.failure])
            }
        } catch {
            testsError = "\(error)"
        }
        let lines = detail.source.split(separator: "\n", omittingEmptySubsequences: false).enumerated().map { index, text -> [String: Any] in
            ["number": index + 1, "text": String(text)]
        }
        let proposal = summary?.pendingProposal.flatMap { $0.version == version ? $0 : nil }
        let view = ConsoleFormat.present([
            "name": name, "namePath": Self.pathComponent(name), "version": version, "short": Self.short(version) ?? version,
            "status": detail.summary.status, "isActive": detail.summary.status == "active", "isShadow": detail.summary.status == "shadow",
            "publishedBy": names[detail.summary.publishedBy] ?? detail.summary.publishedBy,
            "publishedAt": ConsoleFormat.time(detail.summary.publishedAt), "csrf": user.csrf, "notice": notice, "error": error,
            "lines": lines, "tests": tests, "noTests": tests.isEmpty && testsError == nil, "testsError": testsError,
            "passed": tests.filter { $0["passed"] as? Bool == true }.count, "testCount": tests.count,
            "history": detail.history.map { step in
                ["change": step.change, "by": names[step.actor] ?? step.actor, "at": ConsoleFormat.time(step.at) ?? step.at]
            },
            "diff": diff, "hasDiff": !(diff ?? []).isEmpty, "diffNote": diffNote, "base": Self.short(base),
            "others": others.map { ["version": $0.version, "short": Self.short($0.version) ?? "", "status": $0.status, "selected": $0.version == base] },
            "proposal": proposal.map { ["change": $0.change.rawValue, "by": names[$0.proposedBy] ?? $0.proposedBy, "at": ConsoleFormat.time($0.proposedAt) ?? "",
                                        "mine": $0.proposedBy == user.key.id] },
            "canAct": user.key.may([.policyAdmin]), "makerChecker": policies.requireApproval,
            "backtestFrom": String(Timestamp.format(Date().addingTimeInterval(-30 * 86400)).prefix(10)) + "T00:00:00Z",
            "backtestTo": String(Timestamp.format(Date().addingTimeInterval(86400)).prefix(10)) + "T00:00:00Z",
        ])
        return html(title: "\(name) \(Self.short(version) ?? version)", template: "version", view, user: user, status: status,
                    path: "/console/policies")
    }

    // MARK: Publishing

    func publishPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        if let refused = forbidden(user, "Publishing a policy version", [.policyAdmin]) { return refused }
        var source = "", tests = ""
        // Start from a stored version (its source and tests), to change it.
        if let name = request.uri.queryParameters["from"].map(String.init), let version = request.uri.queryParameters["version"].map(String.init),
           let detail = try? await policies.lifecycle.version(name: name, version: version) {
            source = detail.source
            tests = detail.tests.map { Self.pretty($0) } ?? ""
        }
        return publishForm(user: user, source: source, tests: tests, error: nil, problems: [], errorLine: nil, status: .ok)
    }

    /// JSON for a person to edit: keys in order, two spaces a level, scalars as the canonical form writes them.
    static func pretty(_ value: JSONValue, indent: String = "") -> String {
        let inner = indent + "  "
        switch value {
        case .object(let fields) where !fields.isEmpty:
            let members = fields.keys.sorted().map { "\(inner)\(CanonicalJSON.string(.string($0))): \(pretty(fields[$0]!, indent: inner))" }
            return "{\n" + members.joined(separator: ",\n") + "\n\(indent)}"
        case .array(let items) where !items.isEmpty:
            return "[\n" + items.map { inner + pretty($0, indent: inner) }.joined(separator: ",\n") + "\n\(indent)]"
        default:
            return CanonicalJSON.string(value)
        }
    }

    func publishForm(user: ConsoleUser, source: String, tests: String, error: String?, problems: [[String: Any]], errorLine: Int?,
                     status: HTTPResponse.Status) -> Response {
        let lines = errorLine == nil ? [] : source.split(separator: "\n", omittingEmptySubsequences: false).enumerated().map { index, text -> [String: Any] in
            ["number": index + 1, "text": String(text), "isError": index + 1 == errorLine]
        }
        let view = ConsoleFormat.present([
            "csrf": user.csrf, "source": source, "tests": tests, "error": error, "problems": problems, "hasProblems": !problems.isEmpty,
            "lines": lines, "hasLines": !lines.isEmpty, "errorLine": errorLine,
        ])
        return html(title: "Publish a policy version", template: "publish", view, user: user, status: status, path: "/console/policies")
    }

    struct PublishForm: Decodable {
        let csrf: String?
        let source: String?
        let tests: String?
        let source_file: String?
        let tests_file: String?
    }

    /// The line a Lua compile error names (`policy.lua:12: …`).
    static func errorLine(_ message: String) -> Int? {
        guard let match = message.firstMatch(of: /:(\d+):/) else { return nil }
        return Int(match.1)
    }

    func publishVersion(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        if let refused = forbidden(user, "Publishing a policy version", [.policyAdmin]) { return refused }
        let buffer = try await request.body.collect(upTo: 600 * 1024)
        let form: PublishForm
        do {
            // The form is multipart when it carries files (a source or tests uploaded instead of pasted).
            if let type = request.headers[.contentType].flatMap(MediaType.init(from:)), type.isType(.multipartForm),
               let boundary = type.parameter, boundary.name.lowercased() == "boundary" {
                form = try FormDataDecoder().decode(PublishForm.self, from: buffer, boundary: boundary.value)
            } else {
                form = try URLEncodedFormDecoder().decode(PublishForm.self, from: String(buffer: buffer))
            }
        } catch {
            throw Problem(status: .badRequest, title: "Bad form", detail: "the form could not be read")
        }
        // An uploaded file takes the place of the pasted text.
        func chosen(_ file: String?, _ text: String?) -> String { (file?.isEmpty == false ? file : text) ?? "" }
        let source = chosen(form.source_file, form.source).replacingOccurrences(of: "\r\n", with: "\n")
        let testsText = chosen(form.tests_file, form.tests).trimmingCharacters(in: .whitespacesAndNewlines)
        if let refused = formRefusal(user, csrf: form.csrf) {
            return publishForm(user: user, source: source, tests: testsText, error: refused, problems: [], errorLine: nil, status: .forbidden)
        }
        guard source.utf8.count <= 256 * 1024 else {
            return publishForm(user: user, source: source, tests: testsText, error: "The source is over 256 KiB.", problems: [], errorLine: nil,
                               status: .contentTooLarge)
        }
        var tests: JSONValue?
        if !testsText.isEmpty {
            guard let parsed = try? JSONValue.parse(Data(testsText.utf8)) else {
                return publishForm(user: user, source: source, tests: testsText, error: "Tests: not JSON. They are {\"cases\": [...]}, as in Policies/tests.",
                                   problems: [], errorLine: nil, status: .unprocessableContent)
            }
            tests = parsed
        }
        do {
            let published = try await policies.lifecycle.publish(source: source, tests: tests, by: user.key.id)
            return Self.redirect("/console/policies/\(Self.pathComponent(published.name))/versions/\(published.version)?done=\(published.created ? "published" : "republished")")
        } catch let refusal as Refusal {
            let compile = refusal.errors.first { $0.field == "source" }
            let problems = refusal.errors.filter { $0.field.hasPrefix("tests.") }.map { error -> [String: Any] in
                ["case": String(error.field.dropFirst("tests.".count)), "message": error.message]
            }
            let message = compile.map { "The source does not compile: \($0.message)" }
                ?? (problems.isEmpty ? ConsoleFormat.plainWords(refusal) : "\(refusal.message).")
            return publishForm(user: user, source: source, tests: testsText, error: message, problems: problems,
                               errorLine: compile.flatMap { Self.errorLine($0.message) } ?? (compile == nil ? nil : 0), status: .unprocessableContent)
        }
    }

    // MARK: Changes

    struct PolicyForm: Decodable {
        let csrf: String?
    }

    /// Runs a policy admin's change; a refusal is shown on the page in the service's words.
    func policyChange(_ request: Request, name: String, version: String?, _ run: () async throws -> String) async throws -> Response {
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        let form = try await Self.form(PolicyForm.self, request)
        func page(_ error: String, _ status: HTTPResponse.Status) async throws -> Response {
            if let version { return try await versionView(name: name, version: version, against: nil, user: user, notice: nil, error: error, status: status) }
            return try await policyView(name: name, user: user, notice: nil, error: error, status: status)
        }
        if let refused = formRefusal(user, csrf: form.csrf, roles: [.policyAdmin], doing: "change policies") {
            return try await page(refused, .forbidden)
        }
        do {
            let done = try await run()
            let base = "/console/policies/\(Self.pathComponent(name))" + (version.map { "/versions/\($0)" } ?? "")
            return Self.redirect("\(base)?done=\(done)")
        } catch let refusal as Refusal {
            return try await page(ConsoleFormat.plainWords(refusal, names: try await desk.keyNames()), Problem(refusal).status)
        }
    }

    static func done(_ result: PolicyControls.Result, _ word: String) -> String {
        if case .proposed = result { return "proposed" }
        return word
    }

    func policyCommand(_ request: Request, context: AppRequestContext) async throws -> Response {
        let name = try context.parameters.require("name"), command = try context.parameters.require("command")
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        return try await policyChange(request, name: name, version: nil) {
            switch command {
            case "rollback": return Self.done(try await policies.rollback(name, by: user.key.id), "rolled-back")
            case "deactivate": return Self.done(try await policies.deactivate(name, by: user.key.id), "deactivated")
            case "stop-shadow":
                _ = try await policies.stopShadow(name, by: user.key.id)
                return "shadow-stopped"
            default: throw Refusal.notFound("there is no such command")
            }
        }
    }

    func versionCommand(_ request: Request, context: AppRequestContext) async throws -> Response {
        let name = try context.parameters.require("name"), version = try context.parameters.require("version")
        let command = try context.parameters.require("command")
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        return try await policyChange(request, name: name, version: version) {
            switch command {
            case "activate": return Self.done(try await policies.activate(version, of: name, by: user.key.id), "activated")
            case "approve":
                _ = try await policies.approve(version, of: name, by: user.key.id)
                return "approved"
            case "shadow":
                _ = try await policies.shadow(version, of: name, by: user.key.id)
                return "shadowing"
            default: throw Refusal.notFound("there is no such command")
            }
        }
    }
}
