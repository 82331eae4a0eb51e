import ArbiterCore
import ArbiterServer
import ArgumentParser
import Foundation
import Logging

extension Arbiter {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the service on the embedded SQLite database.")

        @Option(help: "Address to listen on (default: $ARBITER_HOST or 127.0.0.1).")
        var host: String?

        @Option(help: "Port to listen on (default: $ARBITER_PORT or 8080).")
        var port: Int?

        @Option(name: .customLong("data-dir"), help: "Directory for the database file.")
        var dataDirectory = "data"

        @Option(help: "Policies to publish and activate at start (a directory of .lua files).")
        var policies = "Policies"

        @Option(help: "Lua instruction budget per evaluation.")
        var instructionBudget: Int64 = 1_000_000

        @Option(help: "Memory cap per Lua state, in MiB.")
        var memoryMib: Int64 = 16

        @Option(help: "Wall-clock bound per evaluation, in milliseconds.")
        var timeLimitMs: Int64 = 50

        @Option(name: .customLong("breaker-threshold"),
                help: "Evaluations in a row hitting a limit after which a policy's circuit breaker opens: its events go to review in 'policy-errors' without running it until an operator resets it or another version is activated (0: never).")
        var breakerThreshold = 5

        @Option(name: .customLong("ceiling"),
                help: "Guardrail ceiling TYPE=CURRENCY:MINOR on what one decision moves per money action type and currency, e.g. credit_memo=USD:500000 (repeatable; defaults: credit_memo and refund 1000000 in USD, EUR and GBP). An approval above it, or in a currency without a ceiling, goes to review in 'guardrail'.")
        var ceilings: [String] = []

        @Option(help: "Queue configuration (JSON: claim_minutes, default and per-queue sla_hours, escalate_to, two_approvals_over_minor). Default: queues.json in the policies directory, if there is one.")
        var queues: String?

        @Option(help: "Export settings (JSON: {\"mask\": [\"payload.customer_email\", ...]}, the decision export fields replaced by keyed hashes). Default: exports.json in the policies directory, if there is one.")
        var exports: String?

        @Option(name: .customLong("erp-url"), help: "Deliver approved actions by POSTing them to this URL (signed; needs --erp-secret or ARBITER_ERP_SECRET).")
        var erpURL: String?

        @Option(name: .customLong("erp-secret"), help: "The HMAC-SHA256 key for the Arbiter-Signature header. Prefer --erp-secret-file or $ARBITER_ERP_SECRET: a flag shows in `ps`.")
        var erpSecret: String?

        @Option(name: .customLong("erp-secret-file"), help: "A file holding the HMAC-SHA256 key (one line; owned by the service's user, mode 0600).")
        var erpSecretFile: String?

        @Option(name: .customLong("erp-spool"), help: "Deliver approved actions as NDJSON lines in daily files in this directory (fsynced).")
        var erpSpool: String?

        @Option(help: "Delivery targets (JSON: {\"targets\": [{\"name\", \"actions\": [types], \"connector\": {\"kind\": \"http\"|\"file\"|\"none\", ...}, \"concurrency\"?, \"max_attempts\"?, \"timeout_ms\"?, \"max_delay_s\"?}]}): each action type routed to the system that owns it. Instead of --erp-url/--erp-spool; the --erp-* settings are its defaults.")
        var targets: String?

        @Option(name: .customLong("erp-max-attempts"), help: "Attempts before an action is dead-lettered.")
        var erpMaxAttempts = 12

        @Option(name: .customLong("erp-timeout-ms"), help: "Time-out of one delivery attempt, in milliseconds.")
        var erpTimeoutMs: Int64 = 10_000

        @Option(name: .customLong("erp-max-delay-s"), help: "Longest wait between two attempts, in seconds.")
        var erpMaxDelaySeconds: Int64 = 600

        @Option(name: .customLong("erp-concurrency"), help: "Accounts delivered in parallel (each in order).")
        var erpConcurrency = 64

        @Option(name: .customLong("public-url"), help: "Where users reach the service, e.g. https://arbiter.example.com (behind a TLS proxy); https marks the console's cookies Secure.")
        var publicURL: String?

        @Option(name: .customLong("idle-timeout-s"), help: "Close a connection that sends nothing for this many seconds (an idle keep-alive, a half-open socket, a client that has not finished a request's head).")
        var idleTimeoutSeconds: Int64 = 30

        @Flag(name: .customLong("require-policy-approval"),
              help: "Maker-checker: activating a policy version through the API only proposes it; a second, different policy_admin must approve it.")
        var requirePolicyApproval = false

        @Option(name: .customLong("backtest-inline-events"),
                help: "Backtests of up to this many events answer in the request; larger ones run as a background job (one at a time).")
        var backtestInlineEvents = 20_000

        @Option(help: "Store everything in this PostgreSQL database, which several instances may share (postgres://USER@HOST/DB, or postgres://USER@/DB?host=/socket/dir; default: $ARBITER_DATABASE_URL, else the embedded SQLite file in --data-dir). A URL with a password belongs in $ARBITER_DATABASE_URL: a flag shows in `ps`.")
        var database: String?

        @Option(name: .customLong("instance-name"),
                help: "This instance's name on a shared database (delivery leases and jobs record it). Default: one made at the first start and kept in --data-dir.")
        var instanceName: String?

        @Option(name: .customLong("exports-dir"),
                help: "Where exports are written and downloaded from; instances sharing a database must share it. Default: exports/ in --data-dir.")
        var exportsDirectory: String?

        @Option(name: .customLong("delivery-lease-s"),
                help: "On a shared database: seconds an instance may hold an action it is delivering before another takes it over (longer than --erp-timeout-ms).")
        var deliveryLeaseSeconds: Double = 60

        @Option(name: .customLong("reconciliations-dir"),
                help: "Where reconciliation reports are written and downloaded from; instances sharing a database must share it. Default: reconciliations/ in --data-dir.")
        var reconciliationsDirectory: String?

        @Option(name: .customLong("reconcile-every"),
                help: "Reconcile on a schedule (e.g. 24h) against what --reconcile-pull's ERP holds.")
        var reconcileEvery: String?

        @Option(name: .customLong("reconcile-pull"),
                help: "The NetSuite or Business Central target (of --targets) a scheduled reconciliation reads the ERP's side from.")
        var reconcilePull: String?

        @Option(name: .customLong("reconcile-stale-after"),
                help: "An approved money action still not delivered after this long (e.g. 72h) is a stale exception in scheduled runs.")
        var reconcileStaleAfter: String = "72h"

        @OptionGroup var policyOptions: PolicyOptions

        /// Exactly one connector, or none.
        func erpTarget(environment: [String: String]) throws -> ERPTarget {
            switch (erpURL, erpSpool) {
            case (nil, nil): return .none
            case (_?, _?): throw ValidationError("choose one ERP connector: --erp-url or --erp-spool, not both")
            case (nil, let directory?): return .spool(directory: directory)
            case (let url?, nil):
                guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                    throw ValidationError("--erp-url must be an http:// or https:// URL, got '\(url)'")
                }
                guard let secret = try erpSecretFromFile() ?? erpSecret ?? environment["ARBITER_ERP_SECRET"], secret.count >= 16 else {
                    throw ValidationError("--erp-url needs a signing secret of at least 16 characters (--erp-secret-file, ARBITER_ERP_SECRET or --erp-secret)")
                }
                return .http(url: url, secret: secret)
            }
        }

        /// The secret in `--erp-secret-file`, checked like every secret file (owner, mode).
        func erpSecretFromFile() throws -> String? {
            guard let erpSecretFile else { return nil }
            do {
                guard let data = try SecretFile.read(erpSecretFile) else { throw ValidationError("--erp-secret-file: no file at \(erpSecretFile)") }
                return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch let refused as SecretFile.Refused {
                throw ValidationError("--erp-secret-file: \(refused)")
            }
        }

        func deliverySettings() throws -> DeliverySettings {
            guard erpMaxAttempts >= 1, erpTimeoutMs >= 1, erpMaxDelaySeconds >= 1, erpConcurrency >= 1 else {
                throw ValidationError("--erp-max-attempts, --erp-timeout-ms, --erp-max-delay-s and --erp-concurrency must be positive")
            }
            return DeliverySettings(maxAttempts: erpMaxAttempts, maxDelay: .seconds(erpMaxDelaySeconds),
                                    timeout: .milliseconds(erpTimeoutMs), concurrency: erpConcurrency)
        }

        /// The review settings from `--queues`, or `<policies>/queues.json`, or the defaults.
        func reviewSettings() throws -> ReviewSettings {
            let fallback = URL(fileURLWithPath: policies).appendingPathComponent("queues.json").path
            guard let path = queues ?? (FileManager.default.fileExists(atPath: fallback) ? fallback : nil) else {
                return ReviewSettings()
            }
            return try Self.readSettings(path) { try ReviewSettings.parse($0) }
        }

        /// The masked export fields from `--exports`, or `<policies>/exports.json`, or none.
        func exportMaskPaths() throws -> [[String]] {
            let fallback = URL(fileURLWithPath: policies).appendingPathComponent("exports.json").path
            guard let path = exports ?? (FileManager.default.fileExists(atPath: fallback) ? fallback : nil) else { return [] }
            return try Self.readSettings(path) { try ExportMasking.paths(from: $0) }
        }

        /// Reads a JSON settings file; its problems are named with the file.
        static func readSettings<T>(_ path: String, _ read: (JSONValue) throws -> T) throws -> T {
            do {
                return try read(JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: path))))
            } catch let error as Refusal {
                throw ValidationError("\(path): \(error.errors.map { "\($0.field): \($0.message)" }.joined(separator: "; "))")
            } catch {
                throw ValidationError("\(path): \(error)")
            }
        }

        /// The default ceilings with the `--ceiling` overrides.
        func guardrails() throws -> Guardrails {
            var guardrails = Guardrails()
            for item in ceilings {
                do { try guardrails.set(item) } catch { throw ValidationError("--\(error)") }
            }
            return guardrails
        }

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            let host = host ?? environment["ARBITER_HOST"] ?? "127.0.0.1"
            let port = port ?? environment["ARBITER_PORT"].map { Int($0) ?? -1 } ?? 8080
            guard (0...65535).contains(port) else {
                throw ValidationError("port must be a number from 0 to 65535 (--port or ARBITER_PORT)")
            }
            guard backtestInlineEvents >= 0 else { throw ValidationError("--backtest-inline-events must be 0 or more") }
            guard breakerThreshold >= 0 else { throw ValidationError("--breaker-threshold must be 0 or more") }
            guard idleTimeoutSeconds >= 1 else { throw ValidationError("--idle-timeout-s must be at least 1") }
            if let publicURL, URL(string: publicURL)?.host == nil || !["http", "https"].contains(URL(string: publicURL)?.scheme ?? "") {
                throw ValidationError("--public-url must be an http:// or https:// URL, got '\(publicURL)'")
            }
            guard deliveryLeaseSeconds >= 1 else { throw ValidationError("--delivery-lease-s must be at least 1") }
            LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
            var configuration = ServerConfiguration(
                host: host, port: port, dataDirectory: dataDirectory, policiesDirectory: policies,
                limits: PolicyLimits(instructionBudget: instructionBudget, memoryBytes: memoryMib << 20, timeLimitMillis: timeLimitMs),
                breakerThreshold: breakerThreshold,
                guardrails: try guardrails(),
                policyConfig: try policyOptions.config(),
                adminKey: environment["ARBITER_ADMIN_KEY"].flatMap { $0.isEmpty ? nil : $0 },
                reviews: try reviewSettings(),
                erp: try erpTarget(environment: environment),
                delivery: try deliverySettings(),
                requirePolicyApproval: requirePolicyApproval,
                backtestInlineEvents: backtestInlineEvents,
                exportMaskPaths: try exportMaskPaths(),
                publicURL: publicURL, idleTimeout: .seconds(idleTimeoutSeconds))
            configuration.databaseURL = database ?? environment["ARBITER_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
            configuration.instanceName = instanceName ?? environment["ARBITER_INSTANCE_NAME"].flatMap { $0.isEmpty ? nil : $0 }
            configuration.exportsDirectory = exportsDirectory
            configuration.deliveryLease = deliveryLeaseSeconds
            configuration.reconciliation.directory = reconciliationsDirectory
            guard let staleAfter = DurationText.seconds(reconcileStaleAfter) else {
                throw ValidationError("--reconcile-stale-after must be a duration such as 72h, 3d or 90m")
            }
            configuration.reconciliation.staleAfter = staleAfter
            switch (reconcileEvery, reconcilePull) {
            case (nil, nil): break
            case (let every?, let pull?):
                guard let seconds = DurationText.seconds(every), seconds >= 60 else {
                    throw ValidationError("--reconcile-every must be a duration of at least a minute, such as 24h or 6h")
                }
                configuration.reconciliation.every = .seconds(seconds)
                configuration.reconciliation.pull = pull
            default:
                throw ValidationError("--reconcile-every and --reconcile-pull go together: how often, and which target's ERP to read")
            }
            if let targets {
                guard erpURL == nil, erpSpool == nil else {
                    throw ValidationError("choose --targets or --erp-url/--erp-spool: the targets file names each target's connector")
                }
                configuration.targets = try Self.readSettings(targets) { _ in
                    try DeliveryTarget.load(URL(fileURLWithPath: targets), defaults: configuration.delivery, environment: environment)
                }
            }
            if let key = configuration.adminKey, key.count < 16 {
                throw ValidationError("ARBITER_ADMIN_KEY must be at least 16 characters")
            }
            try await runServer(configuration)
        }
    }
}
