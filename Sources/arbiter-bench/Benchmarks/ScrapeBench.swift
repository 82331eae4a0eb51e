import ArbiterCore
import ArbiterServer
import ArbiterSQLite
import AsyncHTTPClient
import Foundation
import GRDB
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1

/// `arbiter-bench scrape [--outbox 1000000] [--reviews 100000] [--port 18182]`: what a
/// Prometheus scrape and a readiness probe cost when the outbox holds a million actions and
/// the queues 100,000 review items. Seeds such a database (bare rows, foreign keys off), times
/// the queries the scrapes used to run on each request — now the background count — then
/// starts the service on it and times `GET /metrics` and `GET /readyz`.
/// Last line: `scrape metrics_p50_ms=<float> metrics_max_ms=<float> readyz_p50_ms=<float> readyz_max_ms=<float> count_ms=<float>`.
struct ScrapeBench {
    let outbox: Int
    let reviews: Int
    let port: Int

    func run() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("arbiter-scrape-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("arbiter.sqlite").path
        let database = try AppDatabase.open(path: path)
        let seeded = Date()
        try await seed(database)
        print(String(format: "seeded %d outbox actions and %d review items in %.1f s", outbox, reviews, Date().timeIntervalSince(seeded)))

        // What each scrape counted before (and the background task counts now, every 10 s).
        var counts: [Double] = []
        for _ in 0..<5 {
            let started = DispatchTime.now()
            _ = try await database.writer.read { db in
                (try Outbox.depth(db), try Reviews.queues(db, now: Date(), settings: ReviewSettings()),
                 try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox_actions WHERE status = 'pending'"))
            }
            counts.append(Self.millis(since: started))
        }
        counts.sort()
        print(String(format: "the counts (each scrape ran them before; now every 10 s in the background): median %.1f ms", counts[2]))

        var logger = Logger(label: "arbiter")
        logger.logLevel = .warning
        let configuration = ServerConfiguration(port: port, dataDirectory: directory.path, policiesDirectory: "Policies",
                                                adminKey: "scrape-bench-admin-0123456789")
        let app = try await buildApplication(configuration, logger: logger, database: database)
        let server = Task { try await app.runService() }
        defer { server.cancel() }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { _ = client.shutdown() }
        let base = "http://127.0.0.1:\(port)"
        // Wait for the service and its first count.
        for _ in 0..<600 {
            if let body = try? await get(client, base + "/readyz").body, body.contains("\"counted_at\":\"") { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        var metrics: [Double] = [], readyz: [Double] = []
        for _ in 0..<100 {
            var started = DispatchTime.now()
            let scraped = try await get(client, base + "/metrics")
            metrics.append(Self.millis(since: started))
            precondition(scraped.status == 200 && scraped.body.contains("arbiter_outbox_actions{status=\"pending\"}"), "bad scrape")
            started = DispatchTime.now()
            let probed = try await get(client, base + "/readyz")
            readyz.append(Self.millis(since: started))
            precondition(probed.status == 200, "not ready")
        }
        metrics.sort()
        readyz.sort()
        print(String(format: "GET /metrics: median %.2f ms, max %.2f ms; GET /readyz: median %.2f ms, max %.2f ms (100 each)",
                     metrics[50], metrics[99], readyz[50], readyz[99]))
        print(String(format: "scrape metrics_p50_ms=%.2f metrics_max_ms=%.2f readyz_p50_ms=%.2f readyz_max_ms=%.2f count_ms=%.1f",
                     metrics[50], metrics[99], readyz[50], readyz[99], counts[2]))
    }

    /// Bare rows: statuses and queues spread like a busy service's.
    func seed(_ database: AppDatabase) async throws {
        try await database.writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA foreign_keys = OFF") }
        let statuses = ["delivered", "delivered", "delivered", "pending", "dead", "cancelled"]
        let queues = ["credits", "refunds", "disputes", "collections", "entitlements"]
        let states = ["open", "claimed", "escalated", "approved", "rejected"]
        let now = Date()
        for chunk in stride(from: 0, to: outbox, by: 100_000) {
            try await database.writer.write { db in
                let insert = try db.makeStatement(sql: """
                    INSERT INTO outbox_actions (id, decision_id, account_id, correlation_id, type, amount_minor, currency, payload, status, created_at)
                    VALUES (?, ?, ?, ?, 'credit_memo', 2500, 'USD', '{}', ?, ?)
                    """)
                for i in chunk..<min(chunk + 100_000, outbox) {
                    let at = Timestamp.format(now.addingTimeInterval(Double(i - outbox)))
                    try insert.execute(arguments: [Identifier.make(), "decision_\(i)", "acct_\(i % 10_000)", "case_\(i)", statuses[i % statuses.count], at])
                }
            }
        }
        try await database.writer.write { db in
            let insert = try db.makeStatement(sql: """
                INSERT INTO review_items (id, decision_id, event_id, account_id, queue, state, submitted_by, sla_due_at, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, 'key_bench', ?, ?, ?)
                """)
            for i in 0..<reviews {
                let created = Timestamp.format(now.addingTimeInterval(Double(i - reviews)))
                let due = Timestamp.format(now.addingTimeInterval(Double(i - reviews / 2)))
                try insert.execute(arguments: [Identifier.make(), "review_decision_\(i)", "event_\(i)", "acct_\(i % 10_000)",
                                               queues[i % queues.count], states[i % states.count], due, created, created])
            }
        }
        try await database.writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA foreign_keys = ON; ANALYZE") }
    }

    func get(_ client: HTTPClient, _ url: String) async throws -> (status: Int, body: String) {
        let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 16 << 20)
        return (Int(response.status.code), String(buffer: body))
    }

    static func millis(since started: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e6
    }
}
