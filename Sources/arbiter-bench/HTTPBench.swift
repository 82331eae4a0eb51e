import ArbiterApp
import ArbiterCore
import ArbiterPolicy
import ArbiterServer
import ArbiterSQLite
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// `arbiter-bench http`: drives `POST /v1/events` on a running server with `connections`
/// concurrent keep-alive connections for `seconds` (credit requests spread over `accounts`
/// accounts synced beforehand), then measures the SQLite ceiling for the same rows per event
/// written directly in batched commits. The last line is:
/// `http events_per_s=<int> p50_ms=<float> p99_ms=<float> ceiling_events_per_s=<int>`
struct HTTPBench {
    let server: String
    let adminKey: String
    let seconds: Double
    let connections: Int
    let accounts: Int

    func run() async throws {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(120), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let load = try await drive(client)
            try await client.shutdown()
            let ceiling = try Ceiling.measure(seconds: min(seconds, 5))
            print(String(format: "ceiling: %d events in batches of %d, %.0f events/s (SQLite, synchronous=FULL, no HTTP, no policies)",
                         ceiling.events, Ceiling.batch, ceiling.perSecond))
            print(String(format: "ratio to the ceiling: %.2f", load.perSecond / ceiling.perSecond))
            print(String(format: "http events_per_s=%d p50_ms=%.2f p99_ms=%.2f ceiling_events_per_s=%d",
                         Int(load.perSecond), load.p50, load.p99, Int(ceiling.perSecond)))
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    struct Load {
        var perSecond: Double
        var p50: Double
        var p99: Double
    }

    private func drive(_ client: HTTPClient) async throws -> Load {
        let key = try await createKey(client, role: "submitter")
        let sync = try await createKey(client, role: "sync")
        let tiers = ["standard", "premium", "enterprise"]
        let synced = Date()
        try await concurrently(count: accounts) { i in
            let body = #"{"status":"active","tier":"\#(tiers[i % 3])","mrr_minor":99000,"currency":"USD"}"#
            let status = try await send(client, .PUT, "/v1/accounts/bench_\(i)", key: sync, body: body).status
            guard status == 200 else { throw BenchError("account sync answered \(status)") }
        }
        print(String(format: "synced %d accounts in %.1f s", accounts, Date().timeIntervalSince(synced)))

        // The load: each connection sends its next request as soon as the previous is answered.
        let run = UUID().uuidString.prefix(8)
        let amounts: [Int64] = [500, 1500, 2500, 4000, 7500, 12_000, 30_000, 60_000]
        let started = ContinuousClock.now
        let deadline = started + .milliseconds(Int64(seconds * 1000))
        let results = try await withThrowingTaskGroup(of: ([Double], Int).self) { group in
            for worker in 0..<connections {
                group.addTask {
                    var latencies: [Double] = []
                    var failures = 0
                    var n = 0
                    var random = SystemRandomNumberGenerator()
                    while ContinuousClock.now < deadline {
                        n += 1
                        let account = Int.random(in: 0..<accounts, using: &random)
                        let amount = amounts[Int.random(in: 0..<amounts.count, using: &random)]
                        let body = """
                            {"id":"\(run)-\(worker)-\(n)","type":"credit.requested","source":"bench","occurred_at":"2026-11-22T10:00:00Z",\
                            "account_id":"bench_\(account)","correlation_id":"case-\(worker)-\(n)",\
                            "payload":{"amount_minor":\(amount),"currency":"USD","reason":"service outage","case_id":"case-\(worker)-\(n)"}}
                            """
                        let t0 = ContinuousClock.now
                        let status = try await send(client, .POST, "/v1/events", key: key, body: body).status
                        let elapsed = ContinuousClock.now - t0
                        if status == 201 {
                            latencies.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
                        } else {
                            failures += 1
                        }
                    }
                    return (latencies, failures)
                }
            }
            var all: [Double] = []
            var failures = 0
            for try await (latencies, failed) in group {
                all += latencies
                failures += failed
            }
            return (all, failures)
        }
        let elapsed = ContinuousClock.now - started
        let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        var latencies = results.0
        guard !latencies.isEmpty else { throw BenchError("no request succeeded") }
        latencies.sort()
        let load = Load(perSecond: Double(latencies.count) / wall, p50: latencies[latencies.count / 2],
                        p99: latencies[min(latencies.count - 1, Int(Double(latencies.count) * 0.99))])
        print(String(format: "load: %d connections, %.1f s, %d events decided (201), %d failed, %.0f events/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms",
                     connections, wall, latencies.count, results.1, load.perSecond, load.p50, load.p99, latencies.last!))
        return load
    }

    private func createKey(_ client: HTTPClient, role: String) async throws -> String {
        let (status, body) = try await send(client, .POST, "/v1/keys", key: adminKey, body: #"{"name":"bench","role":"\#(role)"}"#)
        guard status == 201, let secret = try JSONValue.parse(Data(body.utf8))["secret"]?.stringValue else {
            throw BenchError("could not create a \(role) key (\(status)): \(body)")
        }
        return secret
    }

    private func send(_ client: HTTPClient, _ method: HTTPMethod, _ path: String, key: String, body: String) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: server + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await client.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: bytes))
    }

    /// Runs `body(i)` for i in 0..<count, `connections` at a time.
    private func concurrently(count: Int, _ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            while next < min(count, connections) {
                let i = next
                group.addTask { try await body(i) }
                next += 1
            }
            while try await group.next() != nil, next < count {
                let i = next
                group.addTask { try await body(i) }
                next += 1
            }
            try await group.waitForAll()
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The SQLite ceiling: the rows the service writes for an approved credit request (event,
/// decision, outbox action, two chained audit entries) written straight to a fresh database
/// in transactions of `batch` events, with the decision computed once — no HTTP, no policy time.
/// Approved credit decisions written through the real store path (`Decisions.insert`): what
/// the ceiling measures and what the ERP benchmark queues.
struct ApprovedCredits {
    let sample: Event
    let decision: Decision
    let context: PolicyContext

    init() throws {
        let engine = PolicyEngine()
        engine.activate(try engine.compile([PolicySource(file: "credit_thresholds.lua",
                                                         source: try String(contentsOfFile: "Policies/credit_thresholds.lua", encoding: .utf8))]))
        let (sample, context) = try EngineBench.mix()[0]
        decision = engine.decide(sample, context: context, guardrails: Guardrails())
        precondition(decision.outcome == .approve && decision.actions.count == 1, "an approved credit with one credit memo")
        self.sample = sample
        self.context = context
    }

    /// Credit number `n` on account `n % accounts`.
    func record(_ n: Int, prefix: String, accounts: Int) throws -> DecisionRecord {
        var envelope = sample.envelope.objectValue!
        envelope["id"] = .string("\(prefix)-\(n)")
        envelope["account_id"] = .string("bench_\(n % accounts)")
        let event = try Event(envelope: .object(envelope))
        let body = CanonicalJSON.encode(event.envelope)
        let now = Date()
        var record = DecisionRecord(
            eventId: Identifier.make(now: now), event: event, body: String(decoding: body, as: UTF8.self),
            bodySHA256: sha256Hex(body), submittedBy: "bench", receivedAt: now, decisionId: Identifier.make(now: now),
            decision: decision, actionIds: [Identifier.make(now: now)], reviewId: nil, context: context, decidedAt: now,
            durationMicros: 20, accountUpdate: nil, response: "")
        record.response = DecisionResponse.encode(record)
        return record
    }
}

enum Ceiling {
    static let batch = 64

    static func measure(seconds: Double) throws -> (events: Int, perSecond: Double) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("arbiter-ceiling-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try AppDatabase.open(path: directory.appendingPathComponent("arbiter.sqlite").path)
        let credits = try ApprovedCredits()
        var written = 0
        let started = Date()
        while Date().timeIntervalSince(started) < seconds {
            let records = try (written..<(written + batch)).map { try credits.record($0, prefix: "ceiling", accounts: 10_000) }
            try database.writer.write { db in
                var chain = try AuditChain(db)
                for record in records { _ = try Decisions.insert(db, record, chain: &chain) }
            }
            written += batch
        }
        return (written, Double(written) / Date().timeIntervalSince(started))
    }
}
