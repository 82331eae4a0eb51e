import ArbiterCore
import ArbiterSQLite
import AsyncHTTPClient
import Foundation
import GRDB
import NIOCore
import NIOHTTP1
import Testing

/// The real `arbiter serve` process, killed with SIGKILL in the middle of a load: every event
/// answered with a 2xx must be there after a restart, with its decision and audit entries,
/// and the audit chain must verify.
@Suite(.timeLimit(.minutes(5))) struct CrashSafetyTests {
    static let admin = "admin-secret-for-crash-tests-0123"

    final class Server {
        let process: ChildProcess
        let port: Int
        /// Where its standard output and error go (read when it fails to start).
        let log: URL
        init(dataDirectory: String, port: Int, policies: String = repositoryRoot.appendingPathComponent("Policies").path,
             arguments extra: [String] = [], environment: [String: String] = [:]) throws {
            self.port = port
            let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("arbiter")
            let executable = FileManager.default.fileExists(atPath: binary.path)
                ? binary : repositoryRoot.appendingPathComponent(".build/debug/arbiter")
            log = URL(fileURLWithPath: scratchDirectory() + ".log")
            let output = try ChildProcess.logFile(log)
            defer { close(output) }
            process = try ChildProcess(executable, ["serve", "--data-dir", dataDirectory, "--policies", policies, "--port", String(port)] + extra,
                                       environment: ProcessInfo.processInfo.environment
                                           .merging(["ARBITER_ADMIN_KEY": CrashSafetyTests.admin].merging(environment) { _, new in new }) { _, new in new },
                                       output: output)
        }

        func kill() {
            process.signal(SIGKILL)
            process.wait()
        }

        /// Suspends until the process has exited.
        func exited() async {
            await process.exited()
        }
    }

    /// Runs `body` against a real `arbiter serve` on a fresh data directory (shipped policies),
    /// killed afterwards. `body` gets the client, the base URL and the data directory.
    static func withServer(_ body: (Client, String, String) async throws -> Void) async throws {
        let data = scratchDirectory()
        let port = try FakeERP.freePort()
        let server = try Server(dataDirectory: data, port: port)
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer {
            server.kill()
            Task { try? await http.shutdown() }
        }
        let base = "http://127.0.0.1:\(port)"
        let client = Client(http: http, base: base)
        try await client.waitUntilReady(server)
        try await body(client, base, data)
    }

    struct Client {
        let http: HTTPClient
        let base: String

        func send(_ method: HTTPMethod, _ path: String, key: String, body: String? = nil,
                  timeout: TimeAmount = .seconds(10)) async throws -> (Int, JSONValue, String?) {
            var request = HTTPClientRequest(url: base + path)
            request.method = method
            request.headers.add(name: "Authorization", value: "Bearer \(key)")
            request.headers.add(name: "Content-Type", value: "application/json")
            if let body { request.body = .bytes(ByteBuffer(string: body)) }
            let response = try await http.execute(request, timeout: timeout)
            let bytes = try await response.body.collect(upTo: 1 << 20)
            return (Int(response.status.code), (try? JSONValue.parse(Data(String(buffer: bytes).utf8))) ?? .null,
                    response.headers.first(name: "Idempotent-Replayed"))
        }

        /// A new key with `role` (named after it), made by the admin; returns its secret.
        func key(_ role: String) async throws -> String {
            let (_, created, _) = try await send(.POST, "/v1/keys", key: CrashSafetyTests.admin, body: "{\"name\":\"\(role)\",\"role\":\"\(role)\"}")
            return try #require(created["secret"]?.stringValue)
        }

        /// Waits until `server` answers `/readyz` with 200; fails at once when it has exited
        /// (its port taken, say) instead of waiting out the suite's time limit.
        func waitUntilReady(_ server: Server, within limit: Duration = .seconds(90)) async throws {
            let deadline = ContinuousClock.now + limit
            while ContinuousClock.now < deadline {
                guard server.process.isRunning else {
                    let output = (try? String(contentsOf: server.log, encoding: .utf8)) ?? ""
                    throw TestFailure("the server on port \(server.port) exited (status \(server.process.exitStatus ?? -1)) "
                                      + "before it was ready: \(output.suffix(2_000))")
                }
                var request = HTTPClientRequest(url: base + "/readyz")
                request.method = .GET
                if let response = try? await http.execute(request, timeout: .seconds(1)), response.status == .ok { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw TestFailure("the server on port \(server.port) did not become ready within \(limit)")
        }
    }

    @Test func everyAcknowledgedEventSurvivesSIGKILL() async throws {
        let data = scratchDirectory()
        let port = try FakeERP.freePort()
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await run(http: http, data: data, port: port)
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }

    func run(http: HTTPClient, data: String, port: Int) async throws {
        let client = Client(http: http, base: "http://127.0.0.1:\(port)")

        var server = try Server(dataDirectory: data, port: port)
        try await client.waitUntilReady(server)
        let (status, key, _) = try await client.send(.POST, "/v1/keys", key: Self.admin, body: #"{"name":"load","role":"submitter"}"#)
        #expect(status == 201)
        let submitter = try #require(key["secret"]?.stringValue)
        let sync = try await client.key("sync")
        for i in 0..<20 {
            _ = try await client.send(.PUT, "/v1/accounts/crash_\(i)", key: sync, body: #"{"status":"active","tier":"premium","currency":"USD"}"#)
        }

        // 16 clients submit as fast as they can; the server is killed while they do.
        let acknowledged = Locked<[(envelope: String, eventId: String, decisionId: String)]>([])
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for worker in 0..<16 {
                    group.addTask {
                        for n in 0..<10_000 {
                            let envelope = CanonicalJSON.string(.object(validEnvelope(
                                n % 5 == 0 ? "payment.failed" : "credit.requested", id: "crash-\(worker)-\(n)", account: "crash_\(n % 20)",
                                payload: n % 5 == 0 ? [:] : ["amount_minor": .int(Int64(100 + n % 3000))])))
                            guard let (status, body, _) = try? await client.send(.POST, "/v1/events", key: submitter, body: envelope,
                                                                                 timeout: .seconds(2)) else { return }
                            if status == 201, let eventId = body["event_id"]?.stringValue, let decisionId = body["decision"]?["id"]?.stringValue {
                                acknowledged.withLock { $0.append((envelope, eventId, decisionId)) }
                            }
                        }
                    }
                }
            }
        }
        while acknowledged.withLock({ $0.count }) < 300 { try await Task.sleep(for: .milliseconds(20)) }
        server.kill()
        await load.value
        let acked = acknowledged.withLock { $0 }

        // Offline first: the chain verifies with the CLI, as an operator would check it.
        let database = URL(fileURLWithPath: data).appendingPathComponent("arbiter.sqlite").path
        let (verifyStatus, verifyOutput) = try runArbiter(["audit", "verify", "--db", database])
        #expect(verifyStatus == 0, "\(verifyOutput)")

        server = try Server(dataDirectory: data, port: port)
        defer { server.kill() }
        // A fresh client: the first one's connection pool backs off after the refused connects.
        let fresh = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await checkAfterRestart(Client(http: fresh, base: client.base), server: server, acked: acked, data: data, submitter: submitter)
        } catch {
            try? await fresh.shutdown()
            throw error
        }
        try await fresh.shutdown()
    }

    func checkAfterRestart(_ client: Client, server: Server, acked: [(envelope: String, eventId: String, decisionId: String)], data: String,
                           submitter: String) async throws {
        try await client.waitUntilReady(server)
        for (_, eventId, decisionId) in acked {
            let (eventStatus, event, _) = try await client.send(.GET, "/v1/events/\(eventId)", key: submitter)
            #expect(eventStatus == 200, "acknowledged event \(eventId) is missing after the crash")
            #expect(event["decision_id"] == .string(decisionId))
            let (decisionStatus, _, _) = try await client.send(.GET, "/v1/decisions/\(decisionId)", key: submitter)
            #expect(decisionStatus == 200)
        }
        let store = try AppDatabase.openReadOnly(path: URL(fileURLWithPath: data).appendingPathComponent("arbiter.sqlite").path)
        let audited = try await store.writer.read { db in
            try Set(String.fetchAll(db, sql: "SELECT subject FROM audit_log WHERE kind IN ('event.received', 'decision.made')"))
        }
        #expect(acked.allSatisfy { audited.contains($0.eventId) && audited.contains($0.decisionId) })
        // Resubmitting an acknowledged event replays the answer it got before the crash.
        if let first = acked.first {
            let (replayStatus, replay, replayed) = try await client.send(.POST, "/v1/events", key: submitter, body: first.envelope)
            #expect(replayStatus == 201)
            #expect(replayed == "true")
            #expect(replay["event_id"] == .string(first.eventId))
        }
        #expect(acked.count >= 300)
    }
}

/// SIGKILL while actions are on their way to the ERP: after a restart every action reaches the
/// ERP, each only ever under its own idempotency key, each account's in queue order.
@Suite(.timeLimit(.minutes(5))) struct DeliveryCrashTests {
    @Test func noActionIsLostOrSentUnderAnotherKeyAcrossSIGKILL() async throws {
        // Slow enough (1 s each, 4 at a time) that the kill lands with deliveries in flight however slowly the 40 events go in.
        let erp = try await FakeERP.start { _, _ in .delayed(.milliseconds(1000), 201, body: #"{"reference":"slow"}"#) }
        let data = scratchDirectory()
        let port = try FakeERP.freePort()
        let policies = try DeliveryTests.approveAllPolicies()
        let arguments = ["--erp-url", erp.url, "--erp-secret", DeliveryTests.secret, "--erp-concurrency", "4", "--erp-timeout-ms", "2000"]
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { Task { try? await http.shutdown(); await erp.stop() } }
        let client = CrashSafetyTests.Client(http: http, base: "http://127.0.0.1:\(port)")
        var server = try CrashSafetyTests.Server(dataDirectory: data, port: port, policies: policies, arguments: arguments)
        try await client.waitUntilReady(server)
        let (_, created, _) = try await client.send(.POST, "/v1/keys", key: CrashSafetyTests.admin, body: #"{"name":"zendesk","role":"submitter"}"#)
        let submitter = try #require(created["secret"]?.stringValue)
        var queued: [String: [String]] = [:]
        for n in 0..<40 {
            let account = "acct_\(n % 10)"
            let body = String(decoding: CanonicalJSON.encode(.object(validEnvelope("credit.requested", account: account))), as: UTF8.self)
            let (status, decided, _) = try await client.send(.POST, "/v1/events", key: submitter, body: body)
            #expect(status == 201)
            queued[account, default: []].append(try #require(decided["decision"]?["actions"]?.arrayValue?.first?["id"]?.stringValue))
        }
        #expect(try await eventually { erp.receipts.count >= 6 })
        server.kill()
        let beforeRestart = erp.receipts.count
        #expect(beforeRestart < 40, "the kill must land while deliveries are in flight")
        erp.answer { _, _ in .status(201, body: #"{"reference":"fast"}"#) }
        server = try CrashSafetyTests.Server(dataDirectory: data, port: port, policies: policies, arguments: arguments)
        defer { server.kill() }
        try await client.waitUntilReady(server)
        let database = try AppDatabase.openReadOnly(path: URL(fileURLWithPath: data).appendingPathComponent("arbiter.sqlite").path)
        #expect(try await eventually(timeout: .seconds(20)) {
            try await database.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox_actions WHERE status = 'delivered'") } == 40
        })
        let receipts = erp.receipts
        let all = Set(queued.values.joined())
        #expect(Set(receipts.map(\.key)) == all, "every action reached the ERP")
        #expect(receipts.allSatisfy { $0.json["id"] == .string($0.key) }, "no action was ever sent under another key")
        for (account, ids) in queued {
            var firstArrival: [String] = []
            for receipt in receipts where receipt.json["account_id"] == .string(account) && !firstArrival.contains(receipt.key) {
                firstArrival.append(receipt.key)
            }
            #expect(firstArrival == ids, "\(account) in order")
        }
        #expect(try await database.verifyAudit().isIntact)
    }
}

/// `arbiter actions list|show|retry|cancel` against a real server with a dead letter.
@Suite(.timeLimit(.minutes(5))) struct ActionsCLITests {
    @Test func operatorsWorkDeadLettersFromTheCommandLine() async throws {
        let erp = try await FakeERP.start { _, _ in .status(400, body: #"{"error":"customer blocked"}"#) }
        let data = scratchDirectory()
        let port = try FakeERP.freePort()
        let server = try CrashSafetyTests.Server(dataDirectory: data, port: port, policies: try DeliveryTests.approveAllPolicies(),
                                                 arguments: ["--erp-url", erp.url, "--erp-secret", DeliveryTests.secret])
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer {
            server.kill()
            Task { try? await http.shutdown(); await erp.stop() }
        }
        let base = "http://127.0.0.1:\(port)"
        let client = CrashSafetyTests.Client(http: http, base: base)
        try await client.waitUntilReady(server)
        let submitter = try await client.key("submitter")
        let operatorKey = try await client.key("operator")
        var ids: [String] = []
        for memo in ["first", "second"] {
            let body = String(decoding: CanonicalJSON.encode(.object(validEnvelope("credit.requested", payload: ["reason": .string(memo)]))), as: UTF8.self)
            let (_, decided, _) = try await client.send(.POST, "/v1/events", key: submitter, body: body)
            ids.append(try #require(decided["decision"]?["actions"]?.arrayValue?.first?["id"]?.stringValue))
        }
        #expect(try await eventually { try await client.send(.GET, "/v1/actions/\(ids[0])", key: operatorKey).1["status"] == "dead" })
        let env = ["ARBITER_KEY": operatorKey]
        let list = try runArbiter(["actions", "list", "--status", "dead", "--server", base], environment: env)
        #expect(list.status == 0, "\(list.output)")
        #expect(list.output.contains(ids[0]) && list.output.contains("dead") && list.output.contains("25.00 USD"), "\(list.output)")
        let show = try runArbiter(["actions", "show", ids[0], "--server", base], environment: env)
        #expect(show.output.contains("customer blocked") && show.output.contains("400"), "\(show.output)")
        let held = try runArbiter(["actions", "show", ids[1], "--server", base], environment: env)
        #expect(held.output.contains("waiting behind dead letter \(ids[0])"), "\(held.output)")

        erp.answer { _, _ in .status(201, body: #"{"reference":"CM-9"}"#) }
        let retry = try runArbiter(["actions", "retry", ids[0], "--comment", "customer unblocked", "--server", base], environment: env)
        #expect(retry.status == 0 && retry.output.contains("retried \(ids[0]): pending"), "\(retry.output)")
        #expect(try await eventually { try await client.send(.GET, "/v1/actions/\(ids[1])", key: operatorKey).1["status"] == "delivered" })
        let cancel = try runArbiter(["actions", "cancel", ids[1], "--comment", "too late", "--server", base], environment: env)
        #expect(cancel.status != 0 && cancel.output.contains("409"), "\(cancel.output)")
        let noKey = try runArbiter(["actions", "list", "--server", base], environment: ["ARBITER_KEY": ""])
        #expect(noKey.status != 0 && noKey.output.contains("ARBITER_KEY"), "\(noKey.output)")
    }
}
