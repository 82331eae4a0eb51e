import ArbiterCore
import ArbiterDelivery
import ArbiterPolicy
import ArbiterStore
import AsyncHTTPClient
import Foundation
import GRDB
import Logging
import ServiceLifecycle

/// The long-lived parts of a running Arbiter, shared by every route.
public struct Services: Sendable {
    public let database: AppDatabase
    public let engine: PolicyEngine
    public let guardrails: Guardrails
    public let metrics: ServiceMetrics
    /// Writes decisions in group commits; runs as a service beside the HTTP server.
    let committer: GroupCommitter
    let intake: Intake
    let keys: KeyCache
    /// Set once the policies of `--policies` are compiled and active.
    let policiesLoaded: Locked<Bool>
    let desk: ReviewDesk
    let escalationInterval: Duration
    /// Delivers approved actions to the ERP; told whenever a commit queued some.
    let dispatcher: Dispatcher
    let erp: ERPTarget
    /// The HTTP connector's client, shut down after the dispatcher stops.
    let httpClient: HTTPClient?

    public init(database: AppDatabase, engine: PolicyEngine, guardrails: Guardrails, reviews: ReviewSettings = ReviewSettings(),
                escalationInterval: Duration = .seconds(1), erp: ERPTarget = .none,
                delivery: DeliverySettings = DeliverySettings()) throws {
        self.database = database
        self.engine = engine
        self.guardrails = guardrails
        let metrics = ServiceMetrics()
        self.metrics = metrics
        self.committer = GroupCommitter(database: database, onCommit: { metrics.committed(batch: $0, duration: $1) })
        self.erp = erp
        let connector: (any ERPConnector)?
        switch erp {
        case .none:
            connector = nil
            httpClient = nil
        case .http(let url, let secret):
            var configuration = HTTPClient.Configuration()
            configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(delivery.concurrency, 8)
            configuration.timeout.connect = .seconds(5)
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            httpClient = client
            connector = HTTPConnector(url: url, secret: secret, client: client, timeout: delivery.timeout)
        case .spool(let directory):
            connector = try FileConnector(directory: directory)
            httpClient = nil
        }
        let dispatcher = Dispatcher(database: database, committer: committer, connector: connector, settings: delivery,
                                    observe: { action, attempt, recorded in metrics.attempted(action, attempt, recorded) })
        self.dispatcher = dispatcher
        self.intake = Intake(engine: engine, guardrails: guardrails, reviews: reviews, committer: committer, metrics: metrics,
                             onQueued: { dispatcher.notify() })
        self.desk = ReviewDesk(database: database, settings: reviews, metrics: metrics, onQueued: { dispatcher.notify() })
        self.escalationInterval = escalationInterval
        self.keys = KeyCache(database: database)
        self.policiesLoaded = Locked(false)
    }

    /// The background work that runs beside the HTTP server, stopped gracefully after it.
    public var backgroundServices: [any Service] {
        // Stopped in reverse order: the dispatcher first (its last attempts are recorded through
        // the committer), the committer last.
        [CommitterService(committer: committer), EscalationService(desk: desk, interval: escalationInterval),
         DispatcherService(dispatcher: dispatcher, httpClient: httpClient)]
    }

    /// Compiles the policies in `directory`, records any version not yet stored (published and
    /// activated "at start" in the audit trail), and makes the set active.
    public func loadPolicies(from directory: String, logger: Logger) async throws {
        let sources = try PolicyDirectory(path: directory).sources()
        let set = try engine.compile(sources)
        try await database.writer.write { db in
            for policy in set.policies {
                let known = try Bool.fetchOne(db, sql: "SELECT status = 'active' FROM policy_versions WHERE name = ? AND version = ?",
                                              arguments: [policy.name, policy.version])
                if known == true { continue }
                let now = Timestamp.format(Date())
                try db.execute(sql: "UPDATE policy_versions SET status = 'retired' WHERE name = ? AND status = 'active'", arguments: [policy.name])
                if known == nil {
                    try db.execute(
                        sql: """
                            INSERT INTO policy_versions (name, version, file, source, status, published_by, published_at, activated_at)
                            VALUES (?, ?, ?, ?, 'active', 'system:startup', ?, ?)
                            """,
                        arguments: [policy.name, policy.version, policy.source.file, policy.source.source, now, now])
                    try AuditLog.append(db, actor: "system:startup", kind: "policy.published", subject: policy.name,
                                        data: ["version": .string(policy.version), "file": .string(policy.source.file)])
                } else {
                    try db.execute(sql: "UPDATE policy_versions SET status = 'active', activated_at = ? WHERE name = ? AND version = ?",
                                   arguments: [now, policy.name, policy.version])
                }
                try AuditLog.append(db, actor: "system:startup", kind: "policy.activated", subject: policy.name,
                                    data: ["version": .string(policy.version)])
            }
        }
        engine.activate(set)
        policiesLoaded.withLock { $0 = true }
        for policy in set.policies {
            logger.info("policy active", metadata: ["name": "\(policy.name)", "version": "\(policy.version.prefix(12))", "on": "\(policy.header.on.joined(separator: ","))"])
        }
    }
}

/// Runs the group committer until graceful shutdown, then writes what is still queued: the HTTP
/// server stops first (services stop in reverse order), so no acknowledged request is dropped.
struct CommitterService: Service {
    let committer: GroupCommitter

    func run() async throws {
        await withGracefulShutdownHandler {
            await committer.run()
        } onGracefulShutdown: {
            committer.stop()
        }
    }
}

/// Every `interval`, releases expired claims and escalates items past their SLA (audited, in
/// the history, counted in the metrics). An item is escalated at most `interval` late.
struct EscalationService: Service {
    let desk: ReviewDesk
    let interval: Duration

    func run() async throws {
        let logger = Logger(label: "arbiter.escalation")
        let settings = desk.settings
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let result = try await desk.database.writer.write { db in
                        try Reviews.sweep(db, now: Date(), settings: settings)
                    }
                    desk.metrics.swept(result)
                    if result.expiredClaims > 0 || !result.escalated.isEmpty {
                        logger.info("review sweep", metadata: ["expired_claims": "\(result.expiredClaims)",
                                                               "escalated": "\(result.escalated.values.reduce(0, +))"])
                    }
                } catch {
                    logger.error("review sweep failed", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}

/// Runs the dispatcher until graceful shutdown; deliveries in flight finish and are recorded.
struct DispatcherService: Service {
    let dispatcher: Dispatcher
    let httpClient: HTTPClient?

    func run() async throws {
        await withGracefulShutdownHandler {
            await dispatcher.run()
        } onGracefulShutdown: {
            dispatcher.stop()
        }
        try? await httpClient?.shutdown()
    }
}
