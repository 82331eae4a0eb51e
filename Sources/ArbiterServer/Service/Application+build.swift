import ArbiterApp
import ArbiterCore
import ArbiterPolicy
import ArbiterSQLite
import Foundation
import Hummingbird
import Logging
import Prometheus

/// Builds the running service: opens the database, creates the first admin key, loads the
/// policies and wires the routes. `arbiter serve` and the tests use the same function.
public func buildApplication(_ configuration: ServerConfiguration, logger: Logger = Logger(label: "arbiter"),
                             database: AppDatabase? = nil) async throws -> some ApplicationProtocol {
    // The composition root: the one place that knows the backend (the embedded SQLite file).
    let metrics = ServiceMetrics()
    let backend = try await Backend.open(configuration, database: database, metrics: metrics, logger: logger)
    let storage = backend.storage
    if let key = try await Keys(store: storage.keys).createFirstAdmin(secret: configuration.adminKey) {
        if configuration.adminKey == nil {
            // Shown once and kept in a file only the owner can read; the database holds its hash.
            let file = URL(fileURLWithPath: configuration.dataDirectory).appendingPathComponent("admin.key")
            try SecretFile.prepareDirectory(configuration.dataDirectory)
            try SecretFile.create(file.path, contents: Data((key.secret + "\n").utf8))
            print("Created the initial admin API key (also in \(file.path), mode 0600):\n  \(key.secret)")
        } else {
            print("Created the initial admin API key from ARBITER_ADMIN_KEY.")
        }
        fflush(nil)   // flush every output stream: stdout may be a file
    }
    let engine = PolicyEngine(limits: configuration.limits, config: configuration.policyConfig,
                              breakerThreshold: configuration.breakerThreshold)
    let services = try Services(storage: storage, metrics: metrics, engine: engine,
                            guardrails: configuration.guardrails, reviews: configuration.reviews,
                            escalationInterval: configuration.escalationInterval, erp: configuration.erp, targets: configuration.targets,
                            delivery: configuration.delivery, backtestInlineEvents: configuration.backtestInlineEvents,
                            exports: ExportSettings(configuration, signingKey: backend.signingKey, maskingKey: backend.maskingKey,
                                                           instance: backend.instance),
                            gaugesInterval: configuration.gaugesInterval, checkpointInterval: configuration.checkpointInterval,
                            policyGeneration: backend.policyGeneration, keyCacheLifetime: backend.keyCacheLifetime,
                            reconciliation: ReconciliationSettings(directory: configuration.reconciliationsDirectory,
                                                                   every: configuration.reconciliation.every,
                                                                   pull: configuration.reconciliation.pull,
                                                                   staleAfter: configuration.reconciliation.staleAfter),
                            mappingsDirectory: configuration.mappingsDirectory)
    try await services.loadPolicies(from: configuration.policiesDirectory, logger: logger)
    try await services.routeWaitingActions(logger: logger)
    return Application(
        router: MethodCheckedRouter(router: try buildRouter(services, requirePolicyApproval: configuration.requirePolicyApproval,
                                                            console: ConsoleSettings(secureCookies: configuration.servedOverTLS,
                                                                                     sessions: configuration.consoleSessions))),
        server: .http1(configuration: .init(idleTimeout: .nanoseconds(Int64(configuration.idleTimeout.microseconds) * 1000))),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "arbiter"),
        services: (backend.service.map { [$0] } ?? []) + services.backgroundServices,
        logger: logger
    )
}

/// Builds the service and runs it until SIGTERM or SIGINT, then stops it gracefully.
public func runServer(_ configuration: ServerConfiguration) async throws {
    try await buildApplication(configuration).runService()
}

/// The routes of the service.
public func buildRouter(_ services: Services, requirePolicyApproval: Bool = false,
                        console: ConsoleSettings = ConsoleSettings()) throws -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    router.add(middleware: RequestMetrics(metrics: services.metrics))
    router.add(middleware: ProblemMiddleware())
    router.get("/healthz") { _, _ in
        JSONResponse(.object(["status": "ok"]))
    }
    router.get("/readyz") { _, _ in
        let database = await services.storage.isReachable()
        let policies = services.policiesLoaded.withLock { $0 }
        let ready = database && policies
        // Counted in the background (OperationalGauges), never by the probe itself.
        let counts = services.gauges.counts
        let main = services.targets.first { $0.name == OutboxTarget.erp } ?? services.targets[0]
        var erp: [String: JSONValue] = ["connector": .string(main.connector.name),
                                        "pending_actions": counts.map { .int(Int64($0.outbox.byStatus["pending"] ?? 0)) } ?? .null,
                                        "counted_at": counts.map { .string(Timestamp.format($0.countedAt)) } ?? .null,
                                        "targets": .array(services.targets.map { target in
                                            .object(["name": .string(target.name), "connector": .string(target.connector.name),
                                                     "actions": .array(target.types.map(\.rawValue).sorted().map(JSONValue.string))])
                                        })]
        let waiting = services.targets.filter { $0.connector == .none }.map(\.name)
        if !waiting.isEmpty {
            erp["note"] = .string("no connector configured for \(waiting.joined(separator: ", ")) (--erp-url, --erp-spool or --targets): "
                + "their approved actions wait in the outbox")
        }
        // Policies whose breaker is open: still ready (their events go to review), but shown.
        let suspended = services.engine.openBreakers.map { breaker -> JSONValue in
            .object(["policy": .string(breaker.health.name), "version": .string(breaker.health.version),
                     "opened_at": .string(Timestamp.format(breaker.opened.at)), "errors": .int(Int64(breaker.opened.errors)),
                     "last_error": .string(breaker.opened.lastError)])
        }
        return JSONResponse(.object([
            "status": .string(ready ? "ready" : "not ready"),
            "checks": .object(["database": .bool(database), "policies": .bool(policies)]),
            "policies": .int(Int64(services.engine.activeSet.policies.count)),
            "suspended_policies": .array(suspended),
            "erp": .object(erp),
        ]), status: ready ? .ok : .serviceUnavailable)
    }
    router.get("/metrics") { _, _ in
        // The counts behind the queue and outbox gauges are taken in the background
        // (OperationalGauges): a scrape costs no table scan, whatever the tables hold.
        if let counts = services.gauges.counts {
            services.metrics.queues(counts.queues, now: Date())
            services.metrics.outbox(counts.outbox.byStatus, oldestPending: counts.outbox.oldestPending, now: Date())
            services.metrics.counted(at: counts.countedAt, now: Date())
        }
        services.metrics.breakers(open: services.engine.openBreakers.map { ($0.health.name, $0.health.version) })
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(bytes: services.metrics.registry.emitToBuffer())))
    }
    router.get("/openapi.yaml") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml)))
    }
    let inbound = InboundController(inbox: services.inbox)
    inbound.addReceiver(to: router)
    let v1 = router.group("v1").add(middleware: Authentication(keys: services.keys))
    v1.addRoutes(inbound.endpoints, atPath: "inbound")
    v1.addRoutes(KeysController(keys: services.keys).endpoints, atPath: "keys")
    v1.addRoutes(AccountsController(accounts: services.accounts).endpoints, atPath: "accounts")
    v1.addRoutes(EventsController(intake: services.intake, decisions: services.decisions).endpoints, atPath: "events")
    v1.addRoutes(DecisionsController(decisions: services.decisions).endpoints, atPath: "decisions")
    v1.addRoutes(QueuesController(desk: services.desk).endpoints, atPath: "queues")
    v1.addRoutes(ReviewsController(desk: services.desk).endpoints, atPath: "reviews")
    v1.addRoutes(ActionsController(deliveries: services.deliveries).endpoints, atPath: "actions")
    v1.addRoutes(PoliciesController(controls: PolicyControls(lifecycle: services.lifecycle, requireApproval: requirePolicyApproval)).endpoints, atPath: "policies")
    v1.addRoutes(AuditController(trail: services.audit).endpoints, atPath: "audit")
    v1.addRoutes(ExportsController(jobs: services.exports).endpoints, atPath: "exports")
    v1.addRoutes(ReconciliationsController(reconciliations: services.reconciliations).endpoints, atPath: "reconciliations")
    let simulate = SimulateController(lifecycle: services.lifecycle, accounts: services.accounts)
    v1.post("simulate", use: simulate.simulate)
    try Console(services: services, settings: console,
                policies: PolicyControls(lifecycle: services.lifecycle, requireApproval: requirePolicyApproval)).addRoutes(to: router)
    return router
}

/// A JSON body with a status.
struct JSONResponse: ResponseGenerator {
    let value: JSONValue
    let status: HTTPResponse.Status

    init(_ value: JSONValue, status: HTTPResponse.Status = .ok) {
        self.value = value
        self.status = status
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var buffer = ByteBuffer()
        buffer.writeBytes(CanonicalJSON.encode(value))
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }
}
