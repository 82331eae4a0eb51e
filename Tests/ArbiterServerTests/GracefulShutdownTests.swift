import ArbiterCore
import AsyncHTTPClient
import Foundation
import Glibc
import NIOHTTP1
import Testing

/// SIGTERM with background work in flight — a backtest job and shadow evaluations of a slow
/// candidate — stops the real `arbiter serve` in a bounded time: the job is cancelled and
/// recorded as interrupted, the queued shadow evaluations are dropped, nothing acknowledged is
/// lost and the audit chain verifies.
@Suite(.timeLimit(.minutes(3))) struct GracefulShutdownTests {
    /// About a quarter of a second of Lua per event (no limit is hit: the budget and the time
    /// limit are raised for it).
    static let slowCandidate = """
        return { name = "credit_thresholds", on = { "credit.requested" }, decide = function(event, ctx)
          local n = 0
          for i = 1, 15000000 do n = n + i end
          return review{ queue = "credits", reasons = { "slow " .. n } }
        end }
        """

    @Test func sigtermStopsBackgroundWorkInBoundedTime() async throws {
        let data = scratchDirectory()
        let port = try FakeERP.freePort()
        let arguments = ["--backtest-inline-events", "1", "--instruction-budget", "4000000000", "--time-limit-ms", "20000"]
        var server = try CrashSafetyTests.Server(dataDirectory: data, port: port, arguments: arguments)
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer {
            server.kill()
            Task { try? await http.shutdown() }
        }
        let client = CrashSafetyTests.Client(http: http, base: "http://127.0.0.1:\(port)")
        try await client.waitUntilReady(server)
        let submitter = try await client.key("submitter")
        let finance = try await client.key("policy_admin")

        let from = Timestamp.format(Date().addingTimeInterval(-60))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<8 {
                group.addTask {
                    for i in 0..<10 {
                        let body = CanonicalJSON.string(.object(validEnvelope("credit.requested", account: "acct_\(lane)_\(i)")))
                        let (status, _, _) = try await client.send(.POST, "/v1/events", key: submitter, body: body)
                        #expect(status == 201)
                    }
                }
            }
            try await group.waitForAll()
        }
        let to = Timestamp.format(Date().addingTimeInterval(60))

        let (published, version, _) = try await client.send(.POST, "/v1/policies", key: finance,
                                                            body: CanonicalJSON.string(.object(["source": .string(Self.slowCandidate)])))
        #expect(published == 201, "\(version)")
        let candidate = try #require(version["version"]?.stringValue)
        let (shadowed, _, _) = try await client.send(.POST, "/v1/policies/credit_thresholds/versions/\(candidate)/shadow", key: finance)
        #expect(shadowed == 200)
        // Live events keep being decided at once; each queues a slow shadow evaluation.
        for i in 0..<6 {
            let body = CanonicalJSON.string(.object(validEnvelope("credit.requested", account: "acct_shadow_\(i)")))
            let (status, _, _) = try await client.send(.POST, "/v1/events", key: submitter, body: body)
            #expect(status == 201)
        }
        let (started, job, _) = try await client.send(.POST, "/v1/policies/credit_thresholds/versions/\(candidate)/backtest", key: finance,
                                                      body: "{\"from\": \"\(from)\", \"to\": \"\(to)\"}")
        #expect(started == 202, "\(job)")
        let id = try #require(job["id"]?.stringValue)
        #expect(job["status"] == "running", "\(job)")

        // 86 events at about a quarter of a second each on two cores: ten seconds and more of
        // work in flight, were it waited for.
        let stopping = ContinuousClock.now
        let status = try await server.terminate()
        let took = ContinuousClock.now - stopping
        #expect(status == 0, "a graceful stop exits 0")
        #expect(took < .seconds(6), "SIGTERM took \(took)")

        server = try CrashSafetyTests.Server(dataDirectory: data, port: port, arguments: arguments)
        try await client.waitUntilReady(server)
        let (_, stored, _) = try await client.send(.GET, "/v1/policies/credit_thresholds/backtests/\(id)", key: finance)
        #expect(stored["status"] == "failed", "\(stored)")
        #expect(stored["error"]?.stringValue?.contains("interrupted: the service stopped before the backtest finished") == true, "\(stored)")
        let (_, events, _) = try await client.send(.GET, "/v1/decisions?limit=100", key: CrashSafetyTests.admin)
        #expect(events["items"]?.arrayValue?.count == 86, "every acknowledged event is decided and there")
        server.kill()
        let database = URL(fileURLWithPath: data).appendingPathComponent("arbiter.sqlite").path
        let (verified, output) = try runArbiter(["audit", "verify", "--db", database])
        #expect(verified == 0, "\(output)")
    }
}

extension CrashSafetyTests.Server {
    /// Sends SIGTERM and waits for the process to exit; its exit status. The suite's time limit
    /// bounds the wait.
    func terminate() async throws -> Int32 {
        process.signal(SIGTERM)
        await exited()
        return process.exitStatus ?? -1
    }
}
