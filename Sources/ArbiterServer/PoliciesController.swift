import ArbiterApp
import ArbiterCore
import ArbiterPolicy
import ArbiterSQLite
import Foundation
import GRDB
import Hummingbird

/// Policy versions while the service runs: publish (compiled in the sandbox and tested before
/// it is stored), activate, roll back, deactivate. One change at a time: each writes the new
/// status, then rebuilds the engine's active set from the database and swaps it in, so every
/// evaluation that starts after the swap uses exactly the new set and evaluations in flight
/// finish on the one they started with.
///
/// Only the changes run in the actor's serial section. Publishing (compile and tests),
/// simulating and compiling a stored version are `nonisolated` and run their Lua on the policy
/// workers: a draft that spends its time limit on every test case never makes an activate,
/// a rollback or a deactivate wait.
actor PolicyLifecycle {
    let database: AppDatabase
    let engine: PolicyEngine
    let workers: PolicyWorkers
    let guardrails: Guardrails
    /// Queue rules, applied to simulated decisions as to live ones.
    let reviews: ReviewSettings
    let shadow: ShadowMode
    let backtests: BacktestJobs

    init(database: AppDatabase, engine: PolicyEngine, workers: PolicyWorkers, guardrails: Guardrails, reviews: ReviewSettings,
         shadow: ShadowMode, backtestInlineEvents: Int) {
        self.database = database
        self.engine = engine
        self.workers = workers
        self.guardrails = guardrails
        self.reviews = reviews
        self.shadow = shadow
        self.backtests = BacktestJobs(database: database, engine: engine, guardrails: guardrails, inlineEvents: backtestInlineEvents)
    }

    /// What the engine runs: the active set and the versions in shadow.
    struct LiveSets: Sendable {
        let active: PolicySet
        let shadows: [ShadowMode.Candidate]
    }

    /// Compiles the active and shadow versions stored in the database.
    static func compile(_ db: Database, engine: PolicyEngine) throws -> LiveSets {
        let active = try engine.compile(try PolicyVersions.activeSources(db).map(\.policySource))
        let shadows = try PolicyVersions.shadowSources(db).map { run, source in
            let set = try engine.compile([source.policySource])
            return ShadowMode.Candidate(run: run, policy: set.policies[0], set: set)
        }
        return LiveSets(active: active, shadows: shadows)
    }

    private func install(_ live: LiveSets) {
        engine.activate(live.active, shadows: live.shadows.map(\.set))
        shadow.replace(live.shadows)
    }

    /// Compiles the active and shadow versions stored in the database and makes them the
    /// engine's.
    @discardableResult
    func reload() async throws -> PolicySet {
        let engine = engine
        let live = try await database.writer.read { db in try Self.compile(db, engine: engine) }
        install(live)
        return live.active
    }

    struct Published: Sendable {
        let created: Bool
        let name: String
        let version: String
    }

    /// Compiles `source`, runs `tests` (`{"cases": [...]}`, the format of Policies/tests), and
    /// stores the version as a draft. Refusals name the compile error or every failing case.
    nonisolated func publish(source: String, tests: JSONValue?, by actor: String) async throws -> Published {
        let engine = engine
        let compiled: CompiledPolicy
        do {
            compiled = try await workers.run {
                Result { try engine.compile([PolicySource(file: "policy.lua", source: source)]).policies[0] }
            }.get()
        } catch let error as PolicyLoadError {
            throw Refusal.invalid([FieldError("source", error.message)], title: "Policy does not compile", message: error.message)
        }
        if let tests {
            let cases: [PolicyTestCase]
            do {
                cases = try PolicyTestCase.parse(tests, file: "tests")
            } catch {
                throw Refusal.invalid([FieldError("tests", "\(error)")], title: "Invalid tests", message: "\(error)")
            }
            let runner = PolicyTestRunner(engine: engine, guardrails: guardrails)
            let failures = try await workers.run { runner.run(policy: compiled, cases: cases) }
            if !failures.isEmpty {
                throw Refusal.invalid(failures.map { FieldError("tests.\($0.caseName)", "expected \($0.expected); got \($0.actual)") },
                                      title: "Policy tests fail", message: "\(failures.count) of \(cases.count) test cases fail; nothing was stored")
            }
        }
        let name = compiled.name
        let version = compiled.version
        let created = try await database.writer.write { db in
            try PolicyVersions.publish(db, name: name, version: version, file: "\(name).lua", source: source, tests: tests, by: actor)
        }
        return Published(created: created, name: name, version: version)
    }

    /// Runs a status change and swaps the new active set (and shadow versions) in. They are
    /// compiled inside the same transaction, so a change whose set would not compile is rolled
    /// back and nothing is swapped.
    func change<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let engine = engine
        let (result, live) = try await database.writer.write { db in
            let result = try body(db)
            return (result, try Self.compile(db, engine: engine))
        }
        install(live)
        return result
    }

    /// A stored version compiled on its own (404 when unknown).
    nonisolated func compiled(name: String, version: String) async throws -> CompiledPolicy {
        guard let source = try await database.writer.read({ db in try PolicyVersions.source(db, name: name, version: version) }) else {
            throw Refusal.notFound("policy \(name) has no version \(version)")
        }
        let engine = engine
        return try await workers.run { Result { try engine.compile([source.policySource]).policies[0] } }.get()
    }

    /// Decides one event as the service would — against the active set, or with some policies
    /// at other stored versions — with every policy's reasons and log. Stores nothing.
    nonisolated func simulate(_ event: Event, context: PolicyContext, versions: [String: String]) async throws -> (Decision, [String: String]) {
        let active = engine.activeSet
        var policies = active.policies
        for (name, version) in versions.sorted(by: { $0.key < $1.key }) {
            let candidate = try await compiled(name: name, version: version)
            policies.removeAll { $0.name == name }
            policies.append(candidate)
        }
        let set = versions.isEmpty ? active : engine.set(of: policies)
        let decision = reviews.applying(to: try await workers.decide(event, context: context, guardrails: guardrails, engine: engine,
                                                                     set: set, live: false))
        var used: [String: String] = [:]
        for policy in set.policies { used[policy.name] = policy.version }
        return (decision, used)
    }
}

extension StoredPolicySource {
    var policySource: PolicySource { PolicySource(file: file, source: source) }
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
            .post(":name/versions/:version/shadow", use: shadow)
            .delete(":name/shadow", use: stopShadow)
            .get(":name/shadow-report", use: shadowReport)
            .post(":name/versions/:version/backtest", use: backtest)
            .get(":name/backtests/:id", use: backtestJob)
            .post(":name/breaker/reset", use: resetBreaker)
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
                throw Refusal.invalid(errors)
            }
            if !errors.isEmpty { throw Refusal.invalid(errors) }
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
            throw Refusal.notFound("no policy named '\(name)'")
        }
        return JSONResponse(.object(["name": .string(name), "versions": .array(versions)]))
    }

    func version(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.readers)
        let name = try context.parameters.require("name")
        let version = try context.parameters.require("version")
        guard let stored = try await database.writer.read({ db in try PolicyVersions.version(db, name: name, version: version) }) else {
            throw Refusal.notFound("policy \(name) has no version \(version)")
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
            return try await proposed(name: name, version: version, change: .activate, by: caller.id)
        }
        let previous = try await lifecycle.change { db in try PolicyVersions.activate(db, name: name, version: version, by: caller.id) }
        return JSONResponse(.object(["name": .string(name), "active_version": .string(version),
                                     "previous_version": previous.map(JSONValue.string) ?? .null]))
    }

    /// The answer to a change that maker-checker turned into a proposal (202).
    private func proposed(name: String, version: String, change: PolicyVersions.ProposedChange, by actor: String) async throws -> JSONResponse {
        let active = try await database.writer.read { db in try PolicyVersions.activeVersion(db, name: name) }
        return JSONResponse(.object([
            "name": .string(name), "active_version": active.map(JSONValue.string) ?? .null,
            "proposed_version": .string(version), "proposed_change": .string(change.rawValue), "proposed_by": .string(actor),
            "status": .string("proposed: a different policy admin must approve it (POST /v1/policies/\(name)/versions/\(version)/approve)"),
        ]), status: .accepted)
    }

    /// Maker-checker: a different policy admin approves the pending proposal about a version
    /// (activate it, roll back to it, or deactivate it), which is carried out.
    func approve(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.policyAdmin)
        let name = try context.parameters.require("name")
        let version = try context.parameters.require("version")
        let (change, previous) = try await lifecycle.change { db in try PolicyVersions.approve(db, name: name, version: version, by: caller.id) }
        return JSONResponse(.object(["name": .string(name), "active_version": change == .deactivate ? .null : .string(version),
                                     "previous_version": previous.map(JSONValue.string) ?? .null, "change": .string(change.rawValue)]))
    }

    /// Re-activates the version active before the current one (with maker-checker on, proposes it).
    func rollback(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.policyAdmin)
        let name = try context.parameters.require("name")
        if requireApproval {
            let target = try await lifecycle.change { db in try PolicyVersions.proposeRollback(db, name: name, by: caller.id) }
            return try await proposed(name: name, version: target, change: .rollback, by: caller.id)
        }
        let previous = try await database.writer.read { db in try PolicyVersions.activeVersion(db, name: name) }
        let target = try await lifecycle.change { db in try PolicyVersions.rollback(db, name: name, by: caller.id) }
        return JSONResponse(.object(["name": .string(name), "active_version": .string(target),
                                     "previous_version": previous.map(JSONValue.string) ?? .null]))
    }

    /// Retires the active version (with maker-checker on, proposes it).
    func deactivate(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.policyAdmin)
        let name = try context.parameters.require("name")
        if requireApproval {
            let current = try await lifecycle.change { db in try PolicyVersions.proposeDeactivation(db, name: name, by: caller.id) }
            return try await proposed(name: name, version: current, change: .deactivate, by: caller.id)
        }
        let retired = try await lifecycle.change { db in try PolicyVersions.deactivate(db, name: name, by: caller.id) }
        return JSONResponse(.object(["name": .string(name), "active_version": .null, "previous_version": .string(retired)]))
    }

    /// Runs the version in shadow beside the active one (a version already in shadow for this
    /// policy stops).
    func shadow(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.policyAdmin)
        let name = try context.parameters.require("name")
        let version = try context.parameters.require("version")
        let candidate = try await lifecycle.compiled(name: name, version: version)
        let types = candidate.header.on
        let run = try await lifecycle.change { db in
            try PolicyVersions.shadow(db, name: name, version: version, eventTypes: types, by: caller.id)
        }
        return JSONResponse(.object(["name": .string(name), "shadow_version": .string(version), "run": .int(run),
                                     "event_types": .array(types.map(JSONValue.string))]))
    }

    func stopShadow(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.policyAdmin)
        let name = try context.parameters.require("name")
        let version = try await lifecycle.change { db in try PolicyVersions.stopShadow(db, name: name, by: caller.id) }
        return JSONResponse(.object(["name": .string(name), "shadow_version": .null, "stopped_version": .string(version)]))
    }

    /// `?version=&cursor=&limit=`: the latest shadow run (of `version`), its counts by
    /// transition and its differences, newest first.
    func shadowReport(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.readers)
        let name = try context.parameters.require("name")
        let query = request.uri.queryParameters
        var errors: [FieldError] = []
        let limit = RequestFields.limit(query["limit"], &errors)
        var before: Int64?
        if let cursor = query["cursor"] {
            before = Int64(cursor)
            if before == nil { errors.append(FieldError("cursor", "must be the next_cursor of a previous page")) }
        }
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        let version = query["version"].map(String.init)
        let page = before
        guard let report = try await database.writer.read({ db in
            try ShadowRuns.report(db, name: name, version: version, limit: limit, before: page)
        }) else {
            throw Refusal.notFound("policy \(name) has not run \(version.map { "version \($0) " } ?? "")in shadow")
        }
        return JSONResponse(report)
    }

    /// `{"from", "to", "limit"?}`: replays the stored events of the policy's types received in
    /// [from, to). Small ranges answer at once (200, the report); larger ones run as a job
    /// (202, follow `GET .../backtests/{id}`).
    func backtest(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.policyAdmin)
        let name = try context.parameters.require("name")
        let version = try context.parameters.require("version")
        let body = try await JSONBody.object(request, context: context)
        var errors = RequestFields.unknown(body, allowed: ["from", "to", "limit"])
        let from = RequestFields.time(body, "from", &errors), to = RequestFields.time(body, "to", &errors)
        if let from, let to, from >= to { errors.append(FieldError("to", "must be after from")) }
        var limit: Int?
        switch body["limit"] {
        case nil, .null?: break
        case .int(let n)? where (1...10_000_000).contains(n): limit = Int(n)
        default: errors.append(FieldError("limit", "must be an integer from 1 to 10000000"))
        }
        guard errors.isEmpty, let from, let to else { throw Refusal.invalid(errors) }
        let candidate = try await lifecycle.compiled(name: name, version: version)
        let job = try await lifecycle.backtests.start(candidate: candidate, range: Backtester.Range(from: from, to: to, limit: limit),
                                                      by: caller.id)
        return JSONResponse(job.json, status: job.done ? .ok : .accepted)
    }

    /// Closes the policy's circuit breaker (operators and policy admins): its events are
    /// evaluated again. Audited as `policy.breaker_reset`; 409 when no breaker of it is open.
    func resetBreaker(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require([.operator, .policyAdmin])
        let name = try context.parameters.require("name")
        let versions = lifecycle.engine.resetBreaker(policy: name)
        guard !versions.isEmpty else {
            throw Refusal.conflict("policy \(name) has no open circuit breaker")
        }
        try await database.writer.write { db in
            try AuditLog.append(db, actor: caller.id, kind: "policy.breaker_reset", subject: name,
                                  data: .object(["versions": .array(versions.map(JSONValue.string))]))
        }
        return JSONResponse(.object(["name": .string(name), "reset_versions": .array(versions.map(JSONValue.string))]))
    }

    func backtestJob(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.readers)
        let name = try context.parameters.require("name")
        let id = try context.parameters.require("id")
        guard let job = try await lifecycle.backtests.job(name: name, id: id) else {
            throw Refusal.notFound("policy \(name) has no backtest \(id)")
        }
        return JSONResponse(job)
    }
}

/// `POST /v1/simulate`: one event decided as the service would — against the active policies,
/// or with some at other stored versions — returning every policy's reasons and log. Nothing
/// is stored and nothing is sent anywhere.
struct SimulateController {
    let database: AppDatabase
    let lifecycle: PolicyLifecycle

    /// `{"event", "context"?, "versions"?: {"name": "version"}}`. Without `context`, the
    /// account's context is read from the database as it is now.
    func simulate(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(PoliciesController.readers)
        let body = try await JSONBody.object(request, context: context)
        var errors = RequestFields.unknown(body, allowed: ["event", "context", "versions"])
        var event: Event?
        do {
            guard let envelope = body["event"] else { throw Refusal.invalid([FieldError("", "is required: an event as POST /v1/events takes it")]) }
            event = try Event(envelope: envelope)
        } catch let invalid as Refusal {
            errors += invalid.errors.map { FieldError($0.field.isEmpty ? "event" : "event.\($0.field)", $0.message) }
        }
        var versions: [String: String] = [:]
        switch body["versions"] {
        case nil, .null?: break
        case .object(let fields)?:
            for (name, value) in fields.sorted(by: { $0.key < $1.key }) {
                if case .string(let version) = value { versions[name] = version }
                else { errors.append(FieldError("versions.\(name)", "must be a version (the SHA-256 of the source, as GET /v1/policies/{name}/versions lists)")) }
            }
        default: errors.append(FieldError("versions", "must be an object of policy name to version"))
        }
        var given: PolicyContext?
        if let event, let json = body["context"], json != .null {
            do {
                given = try PolicyContext(json: json, accountId: event.accountId, defaultNow: Int64(Date().timeIntervalSince1970))
            } catch let invalid as Refusal {
                errors += invalid.errors
            }
        }
        guard errors.isEmpty, let event else { throw Refusal.invalid(errors) }
        let policyContext: PolicyContext
        if let given {
            policyContext = given
        } else {
            policyContext = try await database.writer.read { db in try AccountRows.context(db, accountId: event.accountId, now: Date()) }
        }
        let (decision, used) = try await lifecycle.simulate(event, context: policyContext, versions: versions)
        return JSONResponse(.object([
            "decision": decision.json, "context": policyContext.json,
            "versions": .object(used.mapValues(JSONValue.string)), "stored": false,
        ]))
    }
}
