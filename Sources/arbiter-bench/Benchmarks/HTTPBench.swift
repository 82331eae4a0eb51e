import ArbiterApp
import ArbiterCore
import ArbiterPolicy
import ArbiterServer
import ArbiterSQLite
import AsyncHTTPClient
import Crypto
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
///
/// With `stripeSecret` (`arbiter-bench inbound`), the load is first signed Stripe
/// `invoice.payment_failed` webhooks to `POST /v1/inbound/stripe` (each a new event, for a
/// customer synced as an account's `external_refs.stripe`), then the canonical path as above;
/// the last line is `inbound messages_per_s=<int> p99_ms=<float> http_events_per_s=<int>`.
struct HTTPBench {
    let servers: [String]
    let adminKey: String
    let seconds: Double
    let connections: Int
    let accounts: Int
    let label: String?
    var stripeSecret: String? = nil

    /// One request of the load: where, with which extra headers, what body, and the status
    /// that counts as success.
    struct Request {
        let path: String
        let headers: [(String, String)]
        let body: String
        let success: Int
    }

    func run() async throws {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(120), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            if let stripeSecret {
                try await syncAccounts(client)
                let inbound = try await drive(client, what: "messages processed (200)") { run, worker, n, account, amount in
                    Self.stripeRequest(run: run, worker: worker, n: n, account: account, amount: amount, secret: stripeSecret)
                }
                let canonical = try await drive(client, what: "events decided (201)", request: Self.canonicalRequest)
                try await client.shutdown()
                print(String(format: "ratio inbound / canonical: %.2f", inbound.perSecond / canonical.perSecond))
                print(String(format: "inbound messages_per_s=%d p99_ms=%.2f http_events_per_s=%d",
                             Int(inbound.perSecond), inbound.p99, Int(canonical.perSecond)))
                return
            }
            try await syncAccounts(client)
            let load = try await drive(client, what: "events decided (201)", request: Self.canonicalRequest)
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

    /// Syncs the accounts the load decides for (each with a Stripe customer id).
    private func syncAccounts(_ client: HTTPClient) async throws {
        let sync = try await createKey(client, role: "sync")
        let tiers = ["standard", "premium", "enterprise"]
        let synced = Date()
        try await concurrently(count: accounts) { i in
            let body = #"{"status":"active","tier":"\#(tiers[i % 3])","mrr_minor":99000,"currency":"USD","external_refs":{"stripe":"cus_bench_\#(i)"}}"#
            let status = try await send(client, .PUT, "/v1/accounts/bench_\(i)", key: sync, body: body).status
            guard status == 200 else { throw BenchError("account sync answered \(status)") }
        }
        print(String(format: "synced %d accounts in %.1f s", accounts, Date().timeIntervalSince(synced)))
    }

    /// A credit request to `POST /v1/events`.
    static func canonicalRequest(run: Substring, worker: Int, n: Int, account: Int, amount: Int64) -> Request {
        Request(path: "/v1/events", headers: [], body: """
            {"id":"\(run)-\(worker)-\(n)","type":"credit.requested","source":"bench","occurred_at":"2026-11-22T10:00:00Z",\
            "account_id":"bench_\(account)","correlation_id":"case-\(worker)-\(n)",\
            "payload":{"amount_minor":\(amount),"currency":"USD","reason":"service outage","case_id":"case-\(worker)-\(n)"}}
            """, success: 201)
    }

    /// A signed Stripe `invoice.payment_failed` webhook, as Stripe sends it.
    static func stripeRequest(run: Substring, worker: Int, n: Int, account: Int, amount: Int64, secret: String) -> Request {
        let now = Int(Date().timeIntervalSince1970)
        let body = """
            {"id":"evt_\(run)_\(worker)_\(n)","object":"event","api_version":"2024-06-20","created":\(now),"data":{"object":\
            {"id":"in_\(run)_\(worker)_\(n)","object":"invoice","amount_due":\(amount),"amount_paid":0,"attempt_count":1,\
            "currency":"usd","customer":"cus_bench_\(account)","status":"open","livemode":false}},"livemode":false,\
            "pending_webhooks":1,"request":{"id":null,"idempotency_key":null},"type":"invoice.payment_failed"}
            """
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(now).".utf8) + Array(body.utf8), using: SymmetricKey(data: Array(secret.utf8)))
        return Request(path: "/v1/inbound/stripe", headers: [("Stripe-Signature", "t=\(now),v1=\(Hex.encode(mac))")], body: body,
                       success: 200)
    }

    private func drive(_ client: HTTPClient, what: String,
                       request: @escaping @Sendable (Substring, Int, Int, Int, Int64) -> Request) async throws -> Load {
        let key = try await createKey(client, role: "submitter")
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
                        let next = request(run, worker, n, account, amount)
                        let t0 = ContinuousClock.now
                        let status = try await send(client, .POST, next.path, key: key, body: next.body, headers: next.headers, to: server).status
                        let elapsed = ContinuousClock.now - t0
                        if status == next.success {
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
        print(String(format: "load: %d connections, %.1f s, %d %@, %d failed, %.0f/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms",
                     connections, wall, latencies.count, what, results.1, load.perSecond, load.p50, load.p99, latencies.last!))
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
                      headers: [(String, String)] = [], to server: String? = nil) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: (server ?? servers[0]) + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
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
