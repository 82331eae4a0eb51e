@testable import ArbiterServer
import ArbiterApp
import ArbiterCore
import ArbiterPolicy
import ArbiterSQLite
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Prometheus
import Testing

/// A misbehaving policy costs only itself: its events wait for it, nothing else does; after
/// repeated limit errors its breaker stops running it; and the lifecycle stays available.
@Suite(.timeLimit(.minutes(5))) struct PolicyIsolationTests {
    /// The shipped policies with `extra` added (file name → source).
    static func policies(_ extra: [String: String]) throws -> String {
        let directory = try temporaryDirectory()
        let shipped = repositoryRoot.appendingPathComponent("Policies")
        for file in try FileManager.default.contentsOfDirectory(atPath: shipped.path)
        where file.hasSuffix(".lua") || file.hasSuffix(".json") || file == "mappings" {
            try FileManager.default.copyItem(at: shipped.appendingPathComponent(file), to: directory.appendingPathComponent(file))
        }
        for (file, source) in extra { try source.write(to: directory.appendingPathComponent(file), atomically: true, encoding: .utf8) }
        return directory.path
    }

    /// A refund policy that runs until a limit stops it, on every refund request.
    static let runaway = """
        return { name = "runaway_refunds", on = { "refund.requested" }, decide = function(event, ctx)
          while true do end
        end }
        """

    @Test func aPolicyAtItsLimitsDelaysOnlyItsOwnEvents() async throws {
        // Only the clock stops it (300 ms), and no breaker: the workers' lanes alone keep the rest moving.
        let limits = PolicyLimits(instructionBudget: 1 << 50, memoryBytes: 16 << 20, timeLimitMillis: 300)
        try await EventsHarness.run(policies: try Self.policies(["runaway_refunds.lua": Self.runaway]), limits: limits,
                                    breakerThreshold: 0) { client, h in
            try await h.syncAccount(client, "acct_1", ["status": "active", "tier": "standard", "currency": "USD"])
            // Once it has run to its limit, its events go to the quarantine lane.
            let (_, first, _) = try await h.post(client, validEnvelope("refund.requested"))
            #expect(first["decision"]?["queue"] == "policy-errors")
            #expect(first["decision"]?["reasons"]?.arrayValue?.first?.stringValue?.contains("time limit exceeded (300 ms)") == true)

            let finished = Locked<[String]>([])
            let firstRefundDone = AsyncStream<Void>.makeStream()
            try await withThrowingTaskGroup(of: Void.self) { group in
                // Ten queue behind each other in the quarantine lane (3 s and more): room for the
                // rest to finish first even on a loaded machine and a PostgreSQL round trip.
                for i in 0..<10 {
                    group.addTask {
                        let (status, body, _) = try await h.post(client, validEnvelope("refund.requested", account: "acct_r\(i)"))
                        #expect(status == .created)
                        #expect(body["decision"]?["queue"] == "policy-errors")
                        finished.withLock { $0.append("refund") }
                        firstRefundDone.continuation.yield()
                    }
                }
                // When one of the ten is done, the others are queued behind it.
                var waiting = firstRefundDone.stream.makeAsyncIterator()
                _ = await waiting.next()
                group.addTask {
                    let (status, body, _) = try await h.post(client, validEnvelope("credit.requested", account: "acct_1"))
                    #expect(status == .created)
                    #expect(body["decision"]?["outcome"] == "approve", "\(body)")
                    finished.withLock { $0.append("credit") }
                }
                group.addTask {
                    try await h.syncAccount(client, "acct_2", ["status": "active", "tier": "premium", "currency": "EUR"])
                    finished.withLock { $0.append("account sync") }
                }
                group.addTask {
                    try await client.execute(uri: "/healthz", method: .get) { response in #expect(response.status == .ok) }
                    finished.withLock { $0.append("healthz") }
                }
                try await group.waitForAll()
            }
            let order = finished.withLock { $0 }
            let lastRefund = try #require(order.lastIndex(of: "refund"))
            for other in ["credit", "account sync", "healthz"] {
                let index = try #require(order.firstIndex(of: other))
                #expect(index < lastRefund, "\(other) waited for the runaway policy: \(order)")
            }
        }
    }

    @Test func repeatedLimitErrorsOpenTheBreakerUntilAResetOrAnotherVersion() async throws {
        try await EventsHarness.run(policies: try Self.policies(["runaway_refunds.lua": Self.runaway]), breakerThreshold: 3) { client, h in
            let operatorKey = try await ReviewsTests.key(h, "ops", .operator)
            let admin = try await ReviewsTests.key(h, "finance lead", .policyAdmin)
            func refund() async throws -> String {
                let (status, body, _) = try await h.post(client, validEnvelope("refund.requested"))
                #expect(status == .created)
                #expect(body["decision"]?["outcome"] == "review")
                // Its own verdict (refund_limits decides refunds too).
                let verdict = body["decision"]?["policies"]?.arrayValue?.first { $0["name"] == "runaway_refunds" }
                return verdict?["error"]?.stringValue ?? verdict?["reasons"]?.arrayValue?.first?.stringValue ?? ""
            }
            // The budget runs out first, or on a starved machine the wall-clock limit: a limit either way.
            for _ in 0..<3 {
                let error = try await refund()
                #expect(error.contains("instruction budget exceeded") || error.contains("time limit exceeded"), "\(error)")
            }
            // The third opened it: audited with the decision, shown by /readyz and /metrics.
            let (_, audit) = try await h.get(client, "/v1/audit?kind=policy.breaker_opened", key: EventsHarness.admin)
            let opened = try #require(audit["items"]?.arrayValue?.first)
            #expect(opened["actor"] == "system:breaker")
            #expect(opened["subject"] == "runaway_refunds")
            #expect(opened["data"]?["errors"] == 3)
            let suspended = try await h.suspendedPolicies(client)
            #expect(suspended.map { $0["policy"] } == ["runaway_refunds"])
            #expect(try await h.metrics(client).contains("arbiter_policy_breaker_open_policies{policy=\"runaway_refunds\""))

            let reason = try await refund()
            #expect(reason.contains("suspended by its circuit breaker after 3 evaluations in a row hit a limit"), "\(reason)")
            // Other event types are decided as usual.
            let (_, credit, _) = try await h.post(client, validEnvelope("credit.requested"))
            #expect(credit["decision"]?["queue"] != "policy-errors")

            // A reviewer may not reset it; an operator may, once.
            let (forbidden, _) = try await PoliciesTests.send(client, .post, "/v1/policies/runaway_refunds/breaker/reset", key: h.reviewer)
            #expect(forbidden == .forbidden)
            let (reset, body) = try await PoliciesTests.send(client, .post, "/v1/policies/runaway_refunds/breaker/reset", key: operatorKey.secret)
            #expect(reset == .ok, "\(body)")
            #expect(body["reset_versions"]?.arrayValue?.count == 1)
            let (again, _) = try await PoliciesTests.send(client, .post, "/v1/policies/runaway_refunds/breaker/reset", key: operatorKey.secret)
            #expect(again == .conflict)
            #expect(try await h.suspendedPolicies(client).isEmpty)
            let (_, resets) = try await h.get(client, "/v1/audit?kind=policy.breaker_reset", key: EventsHarness.admin)
            #expect(resets["items"]?.arrayValue?.first?["actor"] == .string(operatorKey.id))
            #expect(try await refund().contains("exceeded"), "it runs again after the reset")

            // Open again; activating another version closes it for that version.
            for _ in 0..<2 { _ = try await refund() }
            #expect(try await refund().contains("suspended by its circuit breaker"))
            let fixed = """
                return { name = "runaway_refunds", on = { "refund.requested" }, decide = function(event, ctx)
                  return review{ queue = "refunds", reasons = { "fixed" } }
                end }
                """
            let (_, published) = try await PoliciesTests.send(client, .post, "/v1/policies", key: admin.secret, body: fixed, contentType: "text/x-lua")
            let version = try #require(published["version"]?.stringValue)
            let (activated, _) = try await PoliciesTests.send(client, .post, "/v1/policies/runaway_refunds/versions/\(version)/activate",
                                                              key: admin.secret)
            #expect(activated == .ok)
            #expect(try await refund() == "fixed")
            #expect(try await h.suspendedPolicies(client).isEmpty)
        }
    }

    /// Publishing a draft whose tests each run to the time limit, while other changes go on.
    @Test func publishAndSimulateNeverHoldTheLifecycle() async throws {
        let limits = PolicyLimits(instructionBudget: 1 << 50, memoryBytes: 16 << 20, timeLimitMillis: 250)
        try await EventsHarness.run(limits: limits) { client, h in
            let admin = try await ReviewsTests.key(h, "finance lead", .policyAdmin)
            // 32 cases: long enough (8 s) that two rounds of changes finish inside it even when the
            // whole suite shares the machine's two cores.
            let cases = (0..<32).map { i -> JSONValue in
                ["name": .string("case \(i)"), "event": ["type": "refund.requested", "payload": ["amount_minor": 100, "currency": "USD",
                                                                                                  "payment_id": "p", "reason": "r"]],
                 "expect": ["outcome": "review"]]
            }
            let draft = CanonicalJSON.string(.object(["source": .string(Self.runaway), "tests": .object(["cases": .array(cases)])]))
            let publishing = Locked(true)
            let changesDuringPublish = Locked(0)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let (status, body) = try await PoliciesTests.send(client, .post, "/v1/policies", key: admin.secret, body: draft)
                    #expect(status == .created, "\(body)")   // each case ends in review in policy-errors: the tests pass
                    publishing.withLock { $0 = false }
                }
                group.addTask {
                    // Deactivate and reactivate credit_thresholds, and simulate, for as long as the publish runs.
                    let (_, list) = try await PoliciesTests.send(client, .get, "/v1/policies", key: admin.secret)
                    let version = try #require(list["policies"]?.arrayValue?.first { $0["name"] == "credit_thresholds" }?["active_version"]?.stringValue)
                    let simulated = CanonicalJSON.string(.object(validEnvelope("credit.requested")))
                    while publishing.withLock({ $0 }) {
                        let (off, _) = try await PoliciesTests.send(client, .post, "/v1/policies/credit_thresholds/deactivate", key: admin.secret)
                        let (on, _) = try await PoliciesTests.send(client, .post, "/v1/policies/credit_thresholds/versions/\(version)/activate",
                                                                   key: admin.secret)
                        let (simulate, _) = try await PoliciesTests.send(client, .post, "/v1/simulate", key: admin.secret,
                                                                         body: "{\"event\": \(simulated)}")
                        #expect(off == .ok && on == .ok && simulate == .ok)
                        if publishing.withLock({ $0 }) { changesDuringPublish.withLock { $0 += 1 } }
                    }
                }
                try await group.waitForAll()
            }
            // The publish took 32 × 250 ms; changes kept completing meanwhile. When they waited for
            // it, one at most could (the one that reached the lifecycle before the publish did).
            #expect(changesDuringPublish.withLock { $0 } >= 2)
        }
    }

    /// A backtest of a candidate that hits a limit on every event stops after five, reporting why.
    @Test func aBacktestStopsWhenTheCandidateKeepsHittingItsLimits() async throws {
        try await EventsHarness.run { client, h in
            let admin = try await ReviewsTests.key(h, "finance lead", .policyAdmin)
            let from = Timestamp.format(Date().addingTimeInterval(-60))
            for i in 0..<12 { _ = try await h.post(client, validEnvelope("credit.requested", account: "acct_\(i)")) }
            let to = Timestamp.format(Date().addingTimeInterval(60))
            let looping = """
                return { name = "credit_thresholds", on = { "credit.requested" }, decide = function(event, ctx)
                  while true do end
                end }
                """
            let (_, published) = try await PoliciesTests.send(client, .post, "/v1/policies", key: admin.secret, body: looping, contentType: "text/x-lua")
            let version = try #require(published["version"]?.stringValue)
            let (status, job) = try await PoliciesTests.send(client, .post, "/v1/policies/credit_thresholds/versions/\(version)/backtest",
                                                             key: admin.secret, body: "{\"from\": \"\(from)\", \"to\": \"\(to)\"}")
            #expect(status == .ok, "\(job)")
            #expect(job["status"] == "failed", "\(job)")
            #expect(job["error"]?.stringValue?.contains("stopped: the candidate hit a limit on 5 events in a row (last: credit_thresholds.lua:2: instruction budget exceeded") == true, "\(job)")
        }
    }

    /// The account changes between the policies' read and the commit: the event is decided again
    /// on the account as it is now.
    @Test func aDecisionIsMadeAgainWhenTheAccountChangedMeanwhile() async throws {
        let database = try AppDatabase.inMemory()
        let engine = PolicyEngine()
        engine.activate(try engine.compile([PolicySource(file: "credit_thresholds.lua", source: String(
            contentsOf: repositoryRoot.appendingPathComponent("Policies/credit_thresholds.lua"), encoding: .utf8))]))
        let workers = PolicyWorkers(threads: 1)
        let metrics = ServiceMetrics()
        let committer = GroupCommitter(database: database)
        let writing = Task { await committer.run() }
        defer { committer.stop(); writing.cancel() }
        try await database.writer.write { db in
            try AccountRows.save(db, AccountSnapshot(id: "acct_1", status: .active, tier: "standard", currency: "USD"), actor: "test")
        }
        let changed = Locked(false)
        let intake = Intake(engine: engine, workers: workers, store: SQLiteDecisionStore(database: database, committer: committer),
                            guardrails: Guardrails(), reviews: ReviewSettings(), metrics: metrics,
                            shadow: ShadowMode(engine: engine, workers: workers, guardrails: Guardrails(),
                                               store: SQLiteShadowStore(committer: committer), metrics: metrics,
                                               background: BackgroundWork(metrics: metrics)),
                            decided: { _ in
                                // The first time only: billing suspends the account while the policies were deciding.
                                guard changed.withLock({ done in defer { done = true }; return !done }) else { return }
                                try? await database.writer.write { db in
                                    try AccountRows.save(db, AccountSnapshot(id: "acct_1", status: .suspended, tier: "standard", currency: "USD"),
                                                      actor: "billing")
                                }
                            })
        let event = try Event(envelope: .object(validEnvelope("credit.requested")))
        guard case .decided(let response) = try await intake.submit(event, submittedBy: "key_1") else {
            Issue.record("not decided")
            return
        }
        let body = try JSONValue.parse(Data(response.utf8))
        #expect(body["decision"]?["outcome"] == "reject", "decided on the suspended account: \(body)")
        let stored = try await database.writer.read { db in try Decisions.decision(db, id: body["decision"]?["id"]?.stringValue ?? "") }
        #expect(stored?.context?.account.status == .suspended)
        #expect(String(decoding: metrics.registry.emitToBuffer(), as: UTF8.self).contains("arbiter_decision_retries_total 1"))
        await workers.shutdown()
    }
}

extension EventsHarness {
    func suspendedPolicies(_ client: some TestClientProtocol) async throws -> [JSONValue] {
        let (status, ready) = try await get(client, "/readyz")
        #expect(status == .ok)
        return ready["suspended_policies"]?.arrayValue ?? []
    }

    func metrics(_ client: some TestClientProtocol) async throws -> String {
        try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
    }
}
