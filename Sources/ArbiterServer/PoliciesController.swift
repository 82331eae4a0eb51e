import ArbiterCore
import ArbiterPolicy
import ArbiterStore
import Foundation
import GRDB
import Hummingbird

/// Policy versions while the service runs: publish (compiled in the sandbox and tested before
/// it is stored), activate, roll back, deactivate. One change at a time: each writes the new
/// status, then rebuilds the engine's active set from the database and swaps it in, so every
/// evaluation that starts after the swap uses exactly the new set and evaluations in flight
/// finish on the one they started with.
actor PolicyLifecycle {
    let database: AppDatabase
    let engine: PolicyEngine
    let guardrails: Guardrails

    init(database: AppDatabase, engine: PolicyEngine, guardrails: Guardrails) {
        self.database = database
        self.engine = engine
        self.guardrails = guardrails
    }

    /// Compiles the active versions stored in the database and makes them the engine's set.
    @discardableResult
    func reload() async throws -> PolicySet {
        let sources = try await database.writer.read { db in try PolicyVersions.activeSources(db) }
        let set = try engine.compile(sources.map { PolicySource(file: $0.file, source: $0.source) })
        engine.activate(set)
        return set
    }

    struct Published: Sendable {
        let created: Bool
        let name: String
        let version: String
    }

    /// Compiles `source`, runs `tests` (`{"cases": [...]}`, the format of Policies/tests), and
    /// stores the version as a draft. Refusals name the compile error or every failing case.
    func publish(source: String, tests: JSONValue?, by actor: String) async throws -> Published {
        let compiled: CompiledPolicy
        do {
            compiled = try engine.compile([PolicySource(file: "policy.lua", source: source)]).policies[0]
        } catch let error as PolicyLoadError {
            throw Problem(status: .unprocessableContent, title: "Policy does not compile", detail: error.message,
                          errors: [FieldError("source", error.message)])
        }
        if let tests {
            let cases: [PolicyTestCase]
            do {
                cases = try PolicyTestCase.parse(tests, file: "tests")
            } catch {
                throw Problem(status: .unprocessableContent, title: "Invalid tests", detail: "\(error)",
                              errors: [FieldError("tests", "\(error)")])
            }
            let failures = PolicyTestRunner(engine: engine, guardrails: guardrails).run(policy: compiled, cases: cases)
            if !failures.isEmpty {
                throw Problem(status: .unprocessableContent, title: "Policy tests fail",
                              detail: "\(failures.count) of \(cases.count) test cases fail; nothing was stored",
                              errors: failures.map { FieldError("tests.\($0.caseName)", "expected \($0.expected); got \($0.actual)") })
            }
        }
        let name = compiled.name
        let version = compiled.version
        let created = try await database.writer.write { db in
            try PolicyVersions.publish(db, name: name, version: version, file: "\(name).lua", source: source, tests: tests, by: actor)
        }
        return Published(created: created, name: name, version: version)
    }

    /// Runs a status change and swaps the new active set in. The new set is compiled inside the
    /// same transaction, so a change whose set would not compile is rolled back and nothing is
    /// swapped.
    func change<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let engine = engine
        let (result, set): (T, PolicySet)
        do {
            (result, set) = try await database.writer.write { db in
                let result = try body(db)
                let sources = try PolicyVersions.activeSources(db).map { PolicySource(file: $0.file, source: $0.source) }
                return (result, try engine.compile(sources))
            }
        } catch let refusal as PolicyVersions.Refusal {
            switch refusal {
            case .notFound(let message): throw Problem(status: .notFound, title: "Not found", detail: message)
            case .conflict(let message): throw Problem(status: .conflict, title: "Conflict", detail: message)
            case .forbidden(let message): throw Problem(status: .forbidden, title: "Not allowed", detail: message)
            }
        }
        engine.activate(set)
        return result
    }
}

/// `/v1/policies`: finance publishes and activates policy versions without a redeploy.
struct PoliciesController {
    let database: AppDatabase
    let lifecycle: PolicyLifecycle
    /// Maker-checker: activating only proposes; a second, different policy admin approves.
    let requireApproval: Bool

    static let readers: [Role] = [.policyAdmin, .auditor, .reviewer, .operator]

    var endpoints: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .post(use: publish)
            .get(use: list)
            .get(":name/versions", use: versions)
            .get(":name/versions/:version", use: version)
            .post(":name/versions/:version/activate", use: activate)
            .post(":name/versions/:version/approve", use: approve)
            .post(":name/rollback", use: rollback)
            .post(":name/deactivate", use: deactivate)
    }

    /// The Lua source as `text/x-lua`, or JSON `{"source", "tests"?}`. 201 for a new version,
    /// 200 when the same source was published before.
    func publish(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.policyAdmin)
        let source: String
        var tests: JSONValue?
        if request.headers[.contentType]?.lowercased().hasPrefix("text/x-lua") == true {
            let buffer = try await request.body.collect(upTo: 256 * 1024)
            source = String(buffer: buffer)
        } else {
            let body = try await JSONBody.object(request, context: context)
            var errors = RequestFields.unknown(body, allowed: ["source", "tests"])
            guard case .string(let text)? = body["source"], !text.isEmpty else {
                errors.append(FieldError("source", "is required: the policy's Lua source as a string"))
                throw Problem.invalid(InvalidInput(errors))
            }
            if !errors.isEmpty { throw Problem.invalid(InvalidInput(errors)) }
            source = text
            tests = body["tests"].flatMap { $0 == .null ? nil : $0 }
        }
        let published = try await lifecycle.publish(source: source, tests: tests, by: caller.id)
        let name = published.name, version = published.version
        let stored = try await database.writer.read { db in try PolicyVersions.version(db, name: name, version: version) }
        return JSONResponse(stored ?? .null, status: published.created ? .created : .ok)
    }

    func list(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.readers)
        let policies = try await database.writer.read { db in try PolicyVersions.list(db) }
        return JSONResponse(.object(["policies": .array(policies)]))
    }

    func versions(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.readers)
        let name = try context.parameters.require("name")
        guard let versions = try await database.writer.read({ db in try PolicyVersions.versions(db, name: name) }) else {
            throw Problem(status: .notFound, title: "Not found", detail: "no policy named '\(name)'")
        }
        return JSONResponse(.object(["name": .string(name), "versions": .array(versions)]))
    }

    func version(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.readers)
        let name = try context.parameters.require("name")
        let version = try context.parameters.require("version")
        guard let stored = try await database.writer.read({ db in try PolicyVersions.version(db, name: name, version: version) }) else {
            throw Problem(status: .notFound, title: "Not found", detail: "policy \(name) has no version \(version)")
        }
        return JSONResponse(stored)
    }

    /// Activates the version — or, with maker-checker on, proposes it (202) for a second admin.
    func activate(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.policyAdmin)
        let name = try context.parameters.require("name")
        let version = try context.parameters.require("version")
        if requireApproval {
            try await lifecycle.change { db in try PolicyVersions.propose(db, name: name, version: version, by: caller.id) }
            let active = try await database.writer.read { db in try PolicyVersions.activeVersion(db, name: name) }
            return JSONResponse(.object([
                "name": .string(name), "active_version": active.map(JSONValue.string) ?? .null,
                "proposed_version": .string(version), "proposed_by": .string(caller.id),
                "status": "proposed: a different policy admin must approve it (POST .../approve)",
            ]), status: .accepted)
        }
        let previous = try await lifecycle.change { db in try PolicyVersions.activate(db, name: name, version: version, by: caller.id) }
        return JSONResponse(.object(["name": .string(name), "active_version": .string(version),
                                     "previous_version": previous.map(JSONValue.string) ?? .null]))
    }

    /// Maker-checker: a different policy admin approves the pending proposal; it is activated.
    func approve(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.policyAdmin)
        let name = try context.parameters.require("name")
        let version = try context.parameters.require("version")
        let previous = try await lifecycle.change { db in try PolicyVersions.approve(db, name: name, version: version, by: caller.id) }
        return JSONResponse(.object(["name": .string(name), "active_version": .string(version),
                                     "previous_version": previous.map(JSONValue.string) ?? .null]))
    }

    func rollback(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.policyAdmin)
        let name = try context.parameters.require("name")
        let previous = try await database.writer.read { db in try PolicyVersions.activeVersion(db, name: name) }
        let target = try await lifecycle.change { db in try PolicyVersions.rollback(db, name: name, by: caller.id) }
        return JSONResponse(.object(["name": .string(name), "active_version": .string(target),
                                     "previous_version": previous.map(JSONValue.string) ?? .null]))
    }

    func deactivate(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.policyAdmin)
        let name = try context.parameters.require("name")
        let retired = try await lifecycle.change { db in try PolicyVersions.deactivate(db, name: name, by: caller.id) }
        return JSONResponse(.object(["name": .string(name), "active_version": .null, "previous_version": .string(retired)]))
    }
}
