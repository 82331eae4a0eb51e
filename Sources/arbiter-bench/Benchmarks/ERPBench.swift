import ArbiterApp
import ArbiterCore
import ArbiterERP
import ArbiterSQLite
import AsyncHTTPClient
import Crypto
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import Logging
import ServiceLifecycle

/// `arbiter-bench erp`: approved credits are committed through the real store path in batches
/// while the real dispatcher delivers them with the HTTP connector to a receiver in this
/// process that checks every signature. Prints actions per second (first commit to last
/// delivery) and the p99 time from an action's commit to the ERP's confirmation being recorded.
struct ERPBench {
    let actions: Int
    let accounts: Int
    let concurrency: Int
    /// Commit everything before delivery starts (measures the dispatcher alone), instead of
    /// committing while it delivers.
    let backlog: Bool
    static let secret = "bench-erp-secret-0123456789abcdef"

    func run() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("arbiter-erp-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try AppDatabase.open(path: directory.appendingPathComponent("arbiter.sqlite").path)

        let receiver = try await Receiver.start()
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = concurrency
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let commits = Locked((count: 0, items: 0, seconds: 0.0))
        let committer = GroupCommitter(database: database, onCommit: { batch, duration in
            commits.withLock { $0.count += 1; $0.items += batch; $0.seconds += Double(duration.microseconds) / 1e6 }
        })
        let settings = DeliverySettings(concurrency: concurrency)
        let dispatcher = Dispatcher(store: SQLiteOutboxStore(database: database, committer: committer),
                                    connector: HTTPConnector(url: receiver.url, secret: Self.secret, client: client, timeout: .seconds(10)),
                                    settings: settings)
        let credits = try ApprovedCredits()
        let committerTask = Task { await committer.run() }
        func queue(_ range: Range<Int>) async throws {
            let records = try range.map { try credits.record($0, prefix: "erp", accounts: accounts) }
            try await database.writer.write { db in
                var chain = try AuditChain(db)
                for record in records { _ = try Decisions.insert(db, record, chain: &chain) }
            }
        }
        print("erp: \(actions) approved credits over \(accounts) accounts, \(concurrency) accounts in parallel, receiver \(receiver.url), mode \(backlog ? "backlog" : "live")")
        let batch = 250
        var queued = 0
        if backlog {
            // Everything is committed first; the clock starts when the dispatcher does.
            while queued < actions {
                try await queue(queued..<min(queued + batch, actions))
                queued += batch
            }
        }
        let started = Date()
        let dispatcherTask = Task { await dispatcher.run() }
        while queued < actions {
            let count = min(batch, actions - queued)
            try await queue(queued..<(queued + count))
            dispatcher.notify()
            queued += count
        }
        let committed = Date().timeIntervalSince(started)
        while try await database.writer.read({ db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox_actions WHERE status = 'delivered'") ?? 0
        }) < actions {
            try await Task.sleep(for: .milliseconds(20))
        }
        let elapsed = Date().timeIntervalSince(started)
        dispatcher.stop()
        await dispatcherTask.value
        committer.stop()
        await committerTask.value
        try await client.shutdown()
        await receiver.stop()

        let latencies = try await database.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT created_at, delivered_at FROM outbox_actions").compactMap { row -> Double? in
                guard let created = Timestamp.parse(row["created_at"]), let delivered = Timestamp.parse(row["delivered_at"]) else { return nil }
                // In backlog mode an action could not leave before the dispatcher started.
                return delivered.timeIntervalSince(max(created, started)) * 1000
            }.sorted()
        }
        let p50 = latencies[latencies.count / 2]
        let p99 = latencies[min(latencies.count - 1, Int(Double(latencies.count) * 0.99))]
        let attempts = try await database.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox_attempts") ?? 0 }
        print(String(format: "committed all in %.2f s; delivered all in %.2f s; %d attempts; receiver saw %d requests, %d bad signatures; p50 %.1f ms",
                     committed, elapsed, attempts, receiver.requests, receiver.badSignatures, p50))
        let c = commits.withLock { $0 }
        print(String(format: "group commits: %d, %.1f records each, %.2f ms each, writer busy %.0f%% of the run",
                     c.count, Double(c.items) / Double(max(c.count, 1)), c.seconds * 1000 / Double(max(c.count, 1)), c.seconds / elapsed * 100))
        print(String(format: "erp actions_per_s=%d p99_commit_to_delivery_ms=%.1f", Int(Double(actions) / elapsed), p99))
    }

    /// The ERP: checks the signature and the idempotency key, answers 201 with a reference.
    final class Receiver: Sendable {
        let url: String
        private let counts: Locked<(requests: Int, bad: Int)>
        private let group: ServiceGroup
        private let task: Task<Void, any Error>

        var requests: Int { counts.withLock { $0.requests } }
        var badSignatures: Int { counts.withLock { $0.bad } }

        private init(url: String, counts: Locked<(requests: Int, bad: Int)>, group: ServiceGroup, task: Task<Void, any Error>) {
            self.url = url
            self.counts = counts
            self.group = group
            self.task = task
        }

        static func start() async throws -> Receiver {
            let counts = Locked((requests: 0, bad: 0))
            let key = SymmetricKey(data: Array(ERPBench.secret.utf8))
            let router = Router()
            router.post("/actions") { request, _ -> Response in
                let body = try await request.body.collect(upTo: 1 << 20)
                let signature = request.headers[HTTPField.Name("Arbiter-Signature")!] ?? ""
                let parts = signature.split(separator: ",")
                var valid = false
                if parts.count == 2, parts[0].hasPrefix("t="), parts[1].hasPrefix("v1=") {
                    let mac = HMAC<SHA256>.authenticationCode(for: Array("\(parts[0].dropFirst(2)).".utf8) + Array(body.readableBytesView),
                                                              using: key)
                    valid = Hex.encode(Array(mac)) == parts[1].dropFirst(3)
                }
                let hasKey = request.headers[HTTPField.Name("Idempotency-Key")!] != nil
                counts.withLock {
                    $0.requests += 1
                    if !valid || !hasKey { $0.bad += 1 }
                }
                guard valid, hasKey else { return Response(status: .unauthorized) }
                return Response(status: .created, headers: [.contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(string: #"{"reference":"ERP-1"}"#)))
            }
            let bound = AsyncStream<Int>.makeStream()
            var logger = Logger(label: "bench-erp")
            logger.logLevel = .warning
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                                  onServerRunning: { bound.continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
            let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
            let task = Task { try await group.run() }
            var ports = bound.stream.makeAsyncIterator()
            let port = await ports.next() ?? 0
            return Receiver(url: "http://127.0.0.1:\(port)/actions", counts: counts, group: group, task: task)
        }

        func stop() async {
            await group.triggerGracefulShutdown()
            _ = try? await task.value
        }
    }
}
