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
/// `http events_per_s=<int> p50_ms=<float> p99_ms=<float> ceiling_events_per_s=<int>` (then
/// `label`, e.g. `instances=2 backend=postgres`). With several servers (instances of one
/// service), connection `i` goes to server `i mod count`, as a round-robin balancer would.
struct HTTPBench {
    let servers: [String]
    let adminKey: String
    let seconds: Double
    let connections: Int
    let accounts: Int
    let label: String?

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
                         Int(load.perSecond), load.p50, load.p99, Int(ceiling.perSecond)) + (label.map { " " + $0 } ?? ""))
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
                let server = servers[worker % servers.count]
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
                        let status = try await send(client, .POST, "/v1/events", key: key, body: body, to: server).status
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

    private func send(_ client: HTTPClient, _ method: HTTPMethod, _ path: String, key: String, body: String,
                      to server: String? = nil) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: (server ?? servers[0]) + path)
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
