import ArbiterCore
import Foundation

/// Everything `arbiter serve` needs to start.
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Holds `arbiter.sqlite`, the export signing and masking keys, and `exports/`.
    public var dataDirectory: String
    /// Policies published and activated at start when they differ from the active versions.
    public var policiesDirectory: String?
    public var limits: PolicyLimits
    /// Limit errors in a row after which a policy's circuit breaker opens (0: never).
    public var breakerThreshold: Int
    public var guardrails: Guardrails
    /// What policies read as `ctx.config`.
    public var policyConfig: [String: JSONValue]
    /// The first admin key's secret (ARBITER_ADMIN_KEY) instead of a random one.
    public var adminKey: String?
    /// Queue SLAs, escalation targets, two-approval thresholds and the claim time.
    public var reviews: ReviewSettings
    /// How often overdue items are escalated and expired claims released.
    public var escalationInterval: Duration
    /// Where approved actions go: an ERP URL (with the signing secret) or a spool directory.
    public var erp: ERPTarget
    /// Where approved actions go by type (`--targets`); empty: every type to `erp`.
    public var targets: [DeliveryTarget] = []
    public var delivery: DeliverySettings
    /// Maker-checker: activating a policy version only proposes it until a second, different
    /// policy admin approves.
    public var requirePolicyApproval: Bool
    /// Backtests of up to this many events answer in the request; larger ones run as jobs.
    public var backtestInlineEvents: Int
    /// Decision export fields replaced by keyed hashes (``ExportMasking``), each split into its names.
    public var exportMaskPaths: [[String]]
    /// How long `POST /v1/exports` waits for the export before answering 202 with its id.
    public var exportInlineWait: Duration
    /// Where users reach the service (`--public-url`); an `https://` one marks the console's
    /// cookies `Secure`.
    public var publicURL: String?
    /// A connection that sends nothing for this long is closed: an idle keep-alive, a half-open
    /// socket, or a client that has not finished sending a request's head.
    public var idleTimeout: Duration
    /// Console sessions kept per API key and in all (the oldest go first).
    public var consoleSessions: ConsoleSessionLimits
    /// How often the counts behind the queue and outbox gauges (and `/readyz`) are taken.
    public var gaugesInterval: Duration
    /// How often the audit chain's head is signed while it moves (and at start and stop).
    public var checkpointInterval: Duration
    /// A PostgreSQL database (`postgres://…`) that several instances share, instead of the
    /// embedded SQLite file in the data directory.
    public var databaseURL: String?
    /// This instance's name on a shared database (leases and jobs record it); by default one
    /// made at the first start and kept in the data directory.
    public var instanceName: String?
    /// On a shared database: how long an instance may hold an action it is delivering before
    /// another may take it over (it must outlast one attempt).
    public var deliveryLease: TimeInterval = 60
    /// Where exports are written (and read back for downloads); instances sharing a database
    /// must share this directory. Default: `exports/` in the data directory.
    public var exportsDirectory: String?
    /// Reconciliation runs, their mappings directory and the scheduled run (``ReconciliationSettings``).
    public var reconciliation = ReconciliationSettings()

    public init(host: String = "127.0.0.1", port: Int = 8080, dataDirectory: String = "data", policiesDirectory: String? = "Policies",
                limits: PolicyLimits = PolicyLimits(), breakerThreshold: Int = 5, guardrails: Guardrails = Guardrails(),
                policyConfig: [String: JSONValue] = [:],
                adminKey: String? = nil, reviews: ReviewSettings = ReviewSettings(), escalationInterval: Duration = .seconds(1),
                erp: ERPTarget = .none, delivery: DeliverySettings = DeliverySettings(), requirePolicyApproval: Bool = false,
                backtestInlineEvents: Int = 20_000, exportMaskPaths: [[String]] = [], exportInlineWait: Duration = .seconds(5),
                publicURL: String? = nil, idleTimeout: Duration = .seconds(30), consoleSessions: ConsoleSessionLimits = ConsoleSessionLimits(),
                gaugesInterval: Duration = .seconds(10), checkpointInterval: Duration = .seconds(300)) {
        self.gaugesInterval = gaugesInterval
        self.checkpointInterval = checkpointInterval
        self.publicURL = publicURL
        self.idleTimeout = idleTimeout
        self.consoleSessions = consoleSessions
        self.exportMaskPaths = exportMaskPaths
        self.exportInlineWait = exportInlineWait
        self.requirePolicyApproval = requirePolicyApproval
        self.backtestInlineEvents = backtestInlineEvents
        self.erp = erp
        self.delivery = delivery
        self.reviews = reviews
        self.escalationInterval = escalationInterval
        self.policyConfig = policyConfig
        self.adminKey = adminKey
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.policiesDirectory = policiesDirectory
        self.limits = limits
        self.breakerThreshold = breakerThreshold
        self.guardrails = guardrails
    }

    /// Where reconciliation reports are written: `--reconciliations-dir`, else `reconciliations/`
    /// in the data directory. Instances sharing a database must share it.
    public var reconciliationsDirectory: String {
        reconciliation.directory ?? URL(fileURLWithPath: dataDirectory).appendingPathComponent("reconciliations").path
    }

    /// Saved column mappings as files: `reconciliation/` in the policies directory.
    public var mappingsDirectory: String? {
        policiesDirectory.map { URL(fileURLWithPath: $0).appendingPathComponent("reconciliation").path }
    }

    public var databasePath: String { URL(fileURLWithPath: dataDirectory).appendingPathComponent("arbiter.sqlite").path }

    /// Whether users reach the service over TLS (then cookies are `Secure`).
    public var servedOverTLS: Bool { publicURL?.lowercased().hasPrefix("https://") ?? false }
}
