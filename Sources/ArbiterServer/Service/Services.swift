import ArbiterApp
import ArbiterCore
import ArbiterERP
import ArbiterPolicy
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import ServiceLifecycle

/// The long-lived parts of a running Arbiter, shared by every route.
public struct Services: Sendable {
    /// Where everything is stored (SQLite by default).
    let storage: any Storage
    public let engine: PolicyEngine
    /// The threads policies run on (``PolicyWorkers``).
    let workers: PolicyWorkers
    public let guardrails: Guardrails
    public let metrics: ServiceMetrics
    let intake: Intake
    /// Events and decisions, for the routes that read them.
    let decisions: any DecisionStore
    public let keys: Keys
    public let accounts: Accounts
    /// Webhooks from billing and support systems (`/v1/inbound`).
    public let inbox: Inbox
    /// Set once the policies of `--policies` are compiled and active.
    let policiesLoaded: Locked<Bool>
    let desk: ReviewDesk
    let escalationInterval: Duration
    /// Publishes and activates policy versions, one change at a time.
    let lifecycle: PolicyLifecycle
    /// Delivers approved actions to the ERP; told whenever a commit queued some.
    let dispatchers: [Dispatcher]
    /// Delivers answers to requesters (``OutboxTarget/answers``) with its own client: a slow
    /// desk never holds the ERP's deliveries, nor the ERP the answers.
    let answers: Dispatcher
    let answersClient: HTTPClient
    /// Operators' view of delivery: list, retry, cancel.
    let deliveries: Deliveries
    /// Where approved actions go, by action type (``DeliveryTarget``).
    let targets: [DeliveryTarget]
    /// Each target's HTTP client (nil for one that needs none), shut down after its dispatcher stops.
    let httpClients: [HTTPClient?]
    /// What auditors read of the trail, and its checkpoints.
    let audit: AuditTrail
    /// Runs auditors' exports.
    let exports: ExportJobs
    /// Reconciles money actions with the ERP's books and keeps the exceptions as work.
    let reconciliations: Reconciliations
    let reconciliation: ReconciliationSettings
    /// The outbox and queue counts scrapes read (taken in the background).
    let gauges: OperationalGauges
    /// How often the audit chain's head is signed.
    let checkpointInterval: Duration
    /// Jobs, shadow evaluations and chores (``BackgroundService``).
    let background: BackgroundWork
    /// On a database other instances share: a number that moves whenever any instance changes
    /// what decides live. Watched four times a second; a move reloads the policies here.
    let policyGeneration: (@Sendable () async throws -> Int64)?

    public init(storage: any Storage, metrics: ServiceMetrics, engine: PolicyEngine, guardrails: Guardrails, reviews: ReviewSettings = ReviewSettings(),
                escalationInterval: Duration = .seconds(1), erp: ERPTarget = .none, targets: [DeliveryTarget] = [],
                delivery: DeliverySettings = DeliverySettings(), backtestInlineEvents: Int = 20_000,
                exports: ExportSettings, gaugesInterval: Duration = .seconds(10), checkpointInterval: Duration = .seconds(300),
                policyGeneration: (@Sendable () async throws -> Int64)? = nil, keyCacheLifetime: Duration = .seconds(5),
                reconciliation: ReconciliationSettings = ReconciliationSettings(), mappingsDirectory: String? = nil) throws {
        self.checkpointInterval = checkpointInterval
        self.policyGeneration = policyGeneration
        self.storage = storage
        self.engine = engine
        self.guardrails = guardrails
        self.metrics = metrics
        let background = BackgroundWork(metrics: metrics)
        self.background = background
        let audit = storage.audit
        self.audit = AuditTrail(store: audit)
        self.exports = try ExportJobs(store: audit, signingKey: exports.signingKey, masking: exports.masking,
                                      directory: exports.directory, inlineWait: exports.inlineWait, background: background,
                                      instance: exports.instance)
        // One dispatcher per target, each with its own connector, client and settings.
        let targets = targets.isEmpty
            ? [DeliveryTarget(name: OutboxTarget.erp, types: Set(ActionType.allCases), connector: erp, settings: delivery)] : targets
        self.targets = targets
        // Checked before any client is made (a client must be shut down, not dropped).
        if let pull = reconciliation.pull {
            let pullable = targets.filter { target in
                switch target.connector {
                case .netsuite, .businessCentral: true
                default: false
                }
            }.map(\.name)
            guard pullable.contains(pull) else {
                throw Refusal.invalid("reconcile-pull", "'\(pull)' is not a NetSuite or Business Central target (pullable: \(pullable.isEmpty ? "none" : pullable.joined(separator: ", ")))")
            }
        }
        let reconciliationsDirectory = reconciliation.directory
            ?? URL(fileURLWithPath: exports.directory).deletingLastPathComponent().appendingPathComponent("reconciliations").path
        try FileManager.default.createDirectory(atPath: reconciliationsDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let sealing = try SecretSealing(environment: ProcessInfo.processInfo.environment)
        let routing = DeliveryTarget.routing(targets)
        let outbox = storage.outbox
        let reviewStore = storage.reviews
        self.gauges = OperationalGauges(outbox: outbox, reviews: reviewStore, settings: reviews, interval: gaugesInterval)
        var dispatchers: [Dispatcher] = [], clients: [HTTPClient?] = []
        do {
            for target in targets {
                let (connector, client) = try Self.connector(target, accounts: Accounts(store: storage.accounts))
                clients.append(client)
                dispatchers.append(Dispatcher(store: outbox, target: target.name, connector: connector, settings: target.settings,
                                              observe: { action, attempt, recorded in metrics.attempted(action, attempt, recorded) }))
            }
        } catch {
            // A client must be shut down, never dropped: the targets made before this one's failed.
            for client in clients { try? client?.syncShutdown() }
            throw error
        }
        self.dispatchers = dispatchers
        self.httpClients = clients
        // Targets whose ERP can be read back for a reconciliation, each with its own client.
        var pullers: [String: any ERPPuller] = [:]
        for (target, client) in zip(targets, clients) {
            guard let client else { continue }
            switch target.connector {
            case .netsuite(let profile): pullers[target.name] = NetSuitePuller(profile: profile, client: client, timeout: target.settings.timeout)
            case .businessCentral(let profile):
                pullers[target.name] = BusinessCentralPuller(profile: profile, client: client, timeout: target.settings.timeout)
            default: break
            }
        }
        self.reconciliation = reconciliation
        // Answers are sent with the credentials their source has when they are sent; the inbox
        // that knows them is made below.
        let inboxSlot = Locked<Inbox?>(nil)
        let answersClient = Self.client(delivery)
        self.answersClient = answersClient
        let answers = Dispatcher(store: outbox, target: OutboxTarget.answers,
                                 connector: AnswerConnector(client: answersClient, timeout: delivery.timeout) { source in
                                     inboxSlot.withLock { $0 }?.catalog[source]?.answers
                                 },
                                 settings: delivery, observe: { action, attempt, recorded in metrics.attempted(action, attempt, recorded) })
        self.answers = answers
        let everyDispatcher = dispatchers + [answers]
        let deliveries = Deliveries(store: outbox, dispatchers: everyDispatcher)
        self.deliveries = deliveries
        let notify: @Sendable () -> Void = { for dispatcher in everyDispatcher { dispatcher.notify() } }
        self.reconciliations = try Reconciliations(store: storage.reconciliations, signingKey: exports.signingKey,
                                                   directory: reconciliationsDirectory, mappingsDirectory: mappingsDirectory,
                                                   pullers: pullers, deliveries: deliveries)
        let workers = PolicyWorkers()
        self.workers = workers
        let shadow = ShadowMode(engine: engine, workers: workers, guardrails: guardrails, store: storage.shadow,
                                metrics: metrics, background: background)
        self.decisions = storage.decisions
        self.intake = Intake(engine: engine, workers: workers, store: decisions, guardrails: guardrails, reviews: reviews,
                             metrics: metrics, shadow: shadow, routing: routing, onQueued: notify)
        self.desk = ReviewDesk(store: reviewStore, keys: storage.keys, settings: reviews,
                               metrics: metrics, routing: routing, onQueued: notify)
        self.escalationInterval = escalationInterval
        self.lifecycle = PolicyLifecycle(store: storage.policies, audit: audit, engine: engine, workers: workers, guardrails: guardrails, reviews: reviews,
                                         shadow: shadow, backtestInlineEvents: backtestInlineEvents, background: background)
        // An opened breaker is logged, counted and audited (policy.breaker_opened).
        let logger = Logger(label: "arbiter.policies")
        engine.onBreakerOpened { health, opened in
            logger.error("policy circuit breaker opened", metadata: ["policy": "\(health.name)", "version": "\(health.version.prefix(12))",
                                                                   "errors": "\(opened.errors)", "last_error": "\(opened.lastError)"])
            metrics.breakerOpened(policy: health.name)
            // Queued now, during the evaluation: it commits no later than the decision that opened it.
            audit.enqueue(AuditDraft(actor: "system:breaker", kind: "policy.breaker_opened", subject: health.name, correlationId: nil,
                                     at: Timestamp.format(opened.at),
                                     dataJSON: CanonicalJSON.encode(.object(["version": .string(health.version),
                                                                             "errors": .int(Int64(opened.errors)),
                                                                             "last_error": .string(opened.lastError)]))),
                          failed: { error in logger.error("could not audit an opened breaker", metadata: ["error": "\(error)"]) })
        }
        self.keys = Keys(store: storage.keys, lifetime: keyCacheLifetime)
        self.accounts = Accounts(store: storage.accounts)
        // Secrets given to sources through the API are stored sealed with the key-encryption key.
        let inbox = Inbox(sources: SourceCatalog(), store: storage.inbox, accounts: accounts, intake: intake, metrics: metrics,
                          sealing: sealing)
        self.inbox = inbox
        inboxSlot.withLock { $0 = inbox }
        self.policiesLoaded = Locked(false)
    }

    /// A target's connector, and the HTTP client it sends with.
    static func connector(_ target: DeliveryTarget, accounts: Accounts) throws -> ((any ERPConnector)?, HTTPClient?) {
        switch target.connector {
        case .none:
            return (nil, nil)
        case .http(let url, let secret):
            let client = Self.client(target.settings)
            return (HTTPConnector(url: url, secret: secret, client: client, timeout: target.settings.timeout), client)
        case .spool(let directory):
            return (try FileConnector(directory: directory), nil)
        case .netsuiteCSV(let directory, let layout):
            return (try FileConnector(directory: directory, layout: .netsuiteCSV(layout)) { account in
                try await accounts.externalRefs(of: account)
            }, nil)
        case .netsuite(let profile):
            let client = Self.client(target.settings)
            return (NetSuiteConnector(profile: profile, client: client, timeout: target.settings.timeout) { account in
                try await accounts.externalRefs(of: account)
            }, client)
        case .businessCentral(let profile):
            let client = Self.client(target.settings)
            return (BusinessCentralConnector(profile: profile, client: client, timeout: target.settings.timeout) { account in
                try await accounts.externalRefs(of: account)
            }, client)
        }
    }

    /// An HTTP client for a target: a connection per account it delivers in parallel.
    static func client(_ settings: DeliverySettings) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(settings.concurrency, 8)
        configuration.timeout.connect = .seconds(5)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// The services that run beside the HTTP server, stopped gracefully after it, in reverse
    /// order: the dispatcher first (its last attempts are recorded through the committer), then
    /// the committer (writing what is queued), then the background work (jobs interrupted, the
    /// last audit checkpoint over everything written), the policy workers last.
    public var backgroundServices: [any Service] {
        let checkpoints = AuditCheckpoints(trail: audit, key: exports.signingKey)
        let (desk, gauges) = (desk, gauges)
        var chores = [
            // Releases expired claims and escalates items past their SLA (audited, in the
            // history, counted): an item is escalated at most one interval late.
            Chore("review sweep", every: escalationInterval) {
                let logger = Logger(label: "arbiter.escalation")
                do {
                    let result = try await desk.sweep()
                    if result.expiredClaims > 0 || !result.escalated.isEmpty {
                        logger.info("review sweep", metadata: ["expired_claims": "\(result.expiredClaims)",
                                                               "escalated": "\(result.escalated.values.reduce(0, +))"])
                    }
                } catch {
                    logger.error("review sweep failed", metadata: ["error": "\(error)"])
                }
            },
            Chore("operational counts", every: gauges.interval) {
                do { try await gauges.refresh() } catch {
                    Logger(label: "arbiter.gauges").error("counting for the gauges failed", metadata: ["error": "\(error)"])
                }
            },
            Chore("audit checkpoint", every: checkpointInterval) { await checkpoints.take() },
        ]
        if let policyGeneration {
            chores.append(Self.policyWatch(policyGeneration, lifecycle: lifecycle, inbox: inbox))
        }
        if let every = reconciliation.every, let pull = reconciliation.pull {
            chores.append(Self.scheduledReconciliation(reconciliations, every: every, pull: pull, staleAfter: reconciliation.staleAfter))
        }
        return [WorkersService(workers: workers),
                BackgroundService(work: background, chores: chores, last: { await checkpoints.take() }),
                StorageService(storage: storage)]
            + zip(dispatchers, httpClients).map { DispatcherService(dispatcher: $0, httpClient: $1) }
            + [DispatcherService(dispatcher: answers, httpClient: answersClient)]
    }

    /// Loads what other instances activate, roll back, deactivate or shadow: within a quarter
    /// of a second of their commit (plus the compile), this instance decides with it too.
    /// Mapped sources' live scripts move with the same generation.
    static func policyWatch(_ generation: @escaping @Sendable () async throws -> Int64, lifecycle: PolicyLifecycle, inbox: Inbox) -> Chore {
        let logger = Logger(label: "arbiter.policies")
        return Chore("policy changes", every: .milliseconds(250)) {
            do {
                let now = try await generation()
                if try await lifecycle.reloadIfChanged(generation: now) {
                    logger.info("policies changed by another instance: reloaded", metadata: ["generation": "\(now)"])
                    let (changed, warnings) = try await inbox.reloadSources()
                    for source in changed {
                        logger.info("inbound source changed by another instance: reloaded", metadata: ["source": "\(source)"])
                    }
                    for warning in warnings { logger.warning("inbound source: \(warning)") }
                }
            } catch {
                logger.error("looking for policy changes failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The scheduled reconciliation: looked at every five minutes (or every period, if shorter);
    /// runs when the target's mapping has no run younger than a period (so a restart, or a second
    /// instance, does not run it again), over the period plus the stale age back from now.
    static func scheduledReconciliation(_ reconciliations: Reconciliations, every: Duration, pull: String, staleAfter: Int) -> Chore {
        let logger = Logger(label: "arbiter.reconciliation")
        let period = TimeInterval(every.components.seconds)
        return Chore("scheduled reconciliation", every: min(every, .seconds(300))) {
            do {
                let now = Date()
                let recent = try await reconciliations.runs(after: nil, limit: 100).items
                if let last = recent.first(where: { $0.mapping == pull && $0.source == "pull" }),
                   let at = Timestamp.parse(last.createdAt), now.timeIntervalSince(at) < period {
                    return
                }
                let request = ReconciliationRequest(mapping: pull, from: now.addingTimeInterval(-period - TimeInterval(staleAfter)), to: now,
                                                    staleAfter: staleAfter, pull: pull)
                let run = try await reconciliations.run(request, erpFile: nil, by: "system:reconcile", now: now)
                logger.info("scheduled reconciliation", metadata: ["id": "\(run.id)", "target": "\(pull)", "exceptions": "\(run.exceptions)",
                                                                   "opened": "\(run.exceptionsOpened)", "closed": "\(run.exceptionsClosed)"])
            } catch {
                logger.error("scheduled reconciliation failed", metadata: ["target": "\(pull)", "error": "\(error)"])
            }
        }
    }

    /// At start, before the dispatchers run: actions still waiting go to the target their type
    /// is routed to now (the routing changed since they were queued); audited as
    /// `outbox.rerouted` by `system:startup`.
    func routeWaitingActions(logger: Logger) async throws {
        let routing = DeliveryTarget.routing(targets)
        let moved = try await storage.outbox.reroute(routing) { moved in
            AuditDraft(actor: "system:startup", kind: "outbox.rerouted", subject: "outbox", correlationId: nil, at: Timestamp.format(Date()),
                       dataJSON: CanonicalJSON.encode(.object(["moved": .object(moved.mapValues { .int(Int64($0)) })])))
        }
        if moved > 0 { logger.notice("waiting actions moved to the targets their types are routed to now", metadata: ["actions": "\(moved)"]) }
    }

    /// Publishes and activates, at start, the policies in `directory` that differ from the
    /// active versions (audited as done by `system:startup`), then makes every active version in
    /// the database the engine's set — so versions activated through the API survive restarts.
    public func loadPolicies(from directory: String?, logger: Logger) async throws {
        if let directory {
            // The webhook sources beside the policies (sources.json), if there is such a file.
            let (catalog, warnings) = try SourceCatalog.load(URL(fileURLWithPath: directory).appendingPathComponent("sources.json"),
                                                             limits: engine.limits)
            for warning in warnings { logger.warning("inbound source: \(warning)") }
            for source in catalog.sources.values.sorted(by: { $0.name < $1.name }) {
                logger.info("inbound source", metadata: ["name": "\(source.name)", "kind": "\(source.kind.rawValue)",
                                                         "secrets": "\(source.secrets.count)"])
            }
            inbox.configure(catalog)
            try await inbox.installFileMappings(directory: URL(fileURLWithPath: directory))
        }
        // Sources configured through the API take the place of the file's.
        let (_, warnings) = try await inbox.reloadSources()
        for warning in warnings { logger.warning("inbound source: \(warning)") }
        for (name, stored) in inbox.storedSourcesByName {
            logger.info("inbound source configured through the API", metadata: ["name": "\(name)", "by": "\(stored.updatedBy)"])
        }
        let set = try await lifecycle.start(directory: directory)
        policiesLoaded.withLock { $0 = true }
        for policy in set.policies {
            logger.info("policy active", metadata: ["name": "\(policy.name)", "version": "\(policy.version.prefix(12))", "on": "\(policy.header.on.joined(separator: ","))"])
        }
    }
}
