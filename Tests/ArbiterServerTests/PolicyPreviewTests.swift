import ArbiterCore
import ArbiterServer
import ArbiterSQLite
import AsyncHTTPClient
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOHTTP1
import Testing

/// Seeing a policy change before it goes live: simulate, shadow, backtest — through the API.
@Suite(.timeLimit(.minutes(5))) struct PolicyPreviewTests {
    typealias P = PoliciesTests

    /// Publishes `source`; returns its version.
    static func publish(_ client: some TestClientProtocol, _ source: String, key: String) async throws -> String {
        let (status, body) = try await P.send(client, .post, "/v1/policies", key: key, body: source, contentType: "text/x-lua")
        #expect(status == .created || status == .ok, "\(body)")
        return try #require(body["version"]?.stringValue)
    }

    /// Standard USD accounts acct_a … acct_d; credits that the shipped version approves up to
    /// 50.00 and the stricter one only up to 10.00.
    static func standardAccounts(_ client: some TestClientProtocol, _ h: EventsHarness) async throws {
        for id in ["acct_a", "acct_b", "acct_c", "acct_d"] {
            try await h.syncAccount(client, id, ["status": "active", "tier": "standard", "currency": "USD"])
        }
    }

    static func credit(_ client: some TestClientProtocol, _ h: EventsHarness, account: String, amount: Int64) async throws -> JSONValue {
        let (status, body, _) = try await h.post(client, validEnvelope("credit.requested", account: account, payload: ["amount_minor": .int(amount)]))
        #expect(status == .created, "\(body)")
        return body["decision"] ?? .null
    }

    @Test func simulateDecidesWithTheActiveOrChosenVersionsAndStoresNothing() async throws {
        try await EventsHarness.run { client, h in
            try await Self.standardAccounts(client, h)
            let admin = try await ReviewsTests.key(h, "finance lead", .policyAdmin)
            let stricter = try await Self.publish(client, try P.stricterCreditPolicy(), key: admin.secret)
            let eventsBefore = try await h.count("SELECT COUNT(*) FROM events")
            let auditBefore = try await h.count("SELECT COUNT(*) FROM audit_log")
            let event = CanonicalJSON.string(.object(validEnvelope("credit.requested", account: "acct_a", payload: ["amount_minor": 2500])))

            var (status, result) = try await P.send(client, .post, "/v1/simulate", key: admin.secret, body: "{\"event\": \(event)}")
            #expect(status == .ok, "\(result)")
            #expect(result["decision"]?["outcome"] == "approve", "the active version, against the account as it is now")
            #expect(result["context"]?["account"]?["tier"] == "standard")
            #expect(result["stored"] == false)

            (status, result) = try await P.send(client, .post, "/v1/simulate", key: admin.secret,
                                                body: "{\"event\": \(event), \"versions\": {\"credit_thresholds\": \"\(stricter)\"}}")
            #expect(status == .ok, "\(result)")
            #expect(result["decision"]?["outcome"] == "review")
            #expect(result["versions"]?["credit_thresholds"] == .string(stricter))
            let verdict = try #require(result["decision"]?["policies"]?.arrayValue?.first)
            #expect(verdict["reasons"]?.arrayValue?.first?.stringValue?.contains("over the standard auto-approval limit of 10.00") == true, "\(verdict)")
            #expect(verdict["duration_us"]?.intValue != nil, "each policy's trace: reasons, time, log")

            // A context given in the request is used as is: a suspended account is refused.
            (status, result) = try await P.send(client, .post, "/v1/simulate", key: admin.secret,
                                                body: "{\"event\": \(event), \"context\": {\"account\": {\"status\": \"suspended\"}}}")
            #expect(result["decision"]?["outcome"] == "reject", "\(result)")

            #expect(try await h.count("SELECT COUNT(*) FROM events") == eventsBefore, "simulate stores nothing")
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log") == auditBefore)

            // Bad input names the field; an unknown version is 404; submitters may not simulate.
            (status, result) = try await P.send(client, .post, "/v1/simulate", key: admin.secret, body: "{\"context\": {}}")
            #expect(status == .unprocessableContent)
            #expect(result["errors"]?.arrayValue?.first?["field"] == "event", "\(result)")
            let bad = CanonicalJSON.string(.object(validEnvelope("credit.requested", payload: ["amount_minor": -5])))
            (status, result) = try await P.send(client, .post, "/v1/simulate", key: admin.secret,
                                                body: "{\"event\": \(bad), \"context\": {\"now\": \"soon\"}, \"extra\": 1}")
            #expect(status == .unprocessableContent)
            let fields = Set(result["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? [])
            #expect(fields == ["event.payload.amount_minor", "extra"], "\(result)")
            (status, _) = try await P.send(client, .post, "/v1/simulate", key: admin.secret,
                                           body: "{\"event\": \(event), \"versions\": {\"credit_thresholds\": \"\(String(repeating: "0", count: 64))\"}}")
            #expect(status == .notFound)
            (status, _) = try await P.send(client, .post, "/v1/simulate", key: h.submitter, body: "{\"event\": \(event)}")
            #expect(status == .forbidden)
        }
    }

    @Test func aShadowVersionSeesLiveEventsRecordsDifferencesAndNeverDecides() async throws {
        try await EventsHarness.run { client, h in
            try await Self.standardAccounts(client, h)
            let admin = try await ReviewsTests.key(h, "finance lead", .policyAdmin)
            let live = try #require(try await Self.credit(client, h, account: "acct_a", amount: 100)["policies"]?.arrayValue?.first?["version"])
            let stricter = try await Self.publish(client, try P.stricterCreditPolicy(), key: admin.secret)
            var (status, body) = try await P.send(client, .post, "/v1/policies/credit_thresholds/versions/\(stricter)/shadow", key: admin.secret)
            #expect(status == .ok, "\(body)")
            (status, body) = try await P.send(client, .post, "/v1/policies/credit_thresholds/versions/\(live.stringValue ?? "")/shadow",
                                              key: admin.secret)
            #expect(status == .conflict, "the active version cannot shadow itself")
            let (_, list) = try await P.send(client, .get, "/v1/policies", key: admin.secret)
            #expect(list["policies"]?.arrayValue?.first { $0["name"] == "credit_thresholds" }?["shadow_version"] == .string(stricter))

            // Live decisions are the active version's alone.
            let decisions = [try await Self.credit(client, h, account: "acct_b", amount: 2500),
                             try await Self.credit(client, h, account: "acct_c", amount: 4000),
                             try await Self.credit(client, h, account: "acct_d", amount: 500)]
            #expect(decisions.map { $0["outcome"] } == ["approve", "approve", "approve"])
            #expect(decisions.allSatisfy { $0["policies"]?.arrayValue?.map { $0["version"] } == [live] })

            var report = JSONValue.null
            #expect(try await eventually {
                report = try await P.send(client, .get, "/v1/policies/credit_thresholds/shadow-report", key: h.reviewer).1
                return report["outcome_changes"] == .int(2)
            }, "\(report)")
            #expect(report["evaluated"] == .int(3))
            #expect(report["transitions"] == ["approve→review": 2])
            #expect(report["running"] == true)
            let difference = try #require(report["differences"]?.arrayValue?.first)
            #expect(difference["actual"]?["outcome"] == "approve")
            #expect(difference["shadow"]?["outcome"] == "review")
            #expect(difference["actual"]?["reasons"]?.arrayValue?.first?.stringValue?.contains("within the standard limit") == true)
            #expect(difference["shadow"]?["reasons"]?.arrayValue?.first?.stringValue?.contains("over the standard auto-approval limit") == true)
            #expect(difference["event_id"]?.stringValue != nil)
            let metrics = try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
            #expect(metrics.contains("arbiter_shadow_differences_total{policy=\"credit_thresholds\",transition=\"approve→review\"} 2"), "\(metrics)")

            // A broken shadow version never approves nor fails a live request.
            let broken = try P.stricterCreditPolicy().replacingOccurrences(of: "local p = event.payload", with: "error('shadow bug')")
            let brokenVersion = try await Self.publish(client, broken, key: admin.secret)
            (status, _) = try await P.send(client, .post, "/v1/policies/credit_thresholds/versions/\(brokenVersion)/shadow", key: admin.secret)
            #expect(status == .ok)
            #expect(try await Self.credit(client, h, account: "acct_d", amount: 300)["outcome"] == "approve")
            #expect(try await eventually {
                report = try await P.send(client, .get, "/v1/policies/credit_thresholds/shadow-report", key: admin.secret).1
                return report["outcome_changes"] == .int(1)
            }, "\(report)")
            #expect(report["version"] == .string(brokenVersion))
            #expect(report["differences"]?.arrayValue?.first?["shadow"]?["queue"] == "policy-errors")

            (status, body) = try await P.send(client, .delete, "/v1/policies/credit_thresholds/shadow", key: admin.secret)
            #expect(status == .ok, "\(body)")
            (status, _) = try await P.send(client, .delete, "/v1/policies/credit_thresholds/shadow", key: admin.secret)
            #expect(status == .conflict)
            let (_, stopped) = try await P.send(client, .get, "/v1/policies/credit_thresholds/shadow-report?version=\(stricter)", key: admin.secret)
            #expect(stopped["running"] == false)
            #expect(stopped["outcome_changes"] == .int(2), "the earlier run's report stays")
            let kinds = try await h.database.strings(
                "SELECT kind FROM audit_log WHERE subject = 'credit_thresholds' AND actor = ? AND kind LIKE 'policy.shadow%' ORDER BY seq", [admin.id])
            #expect(kinds == ["policy.shadowed", "policy.shadow_stopped", "policy.shadowed", "policy.shadow_stopped"])
        }
    }

    @Test func aBacktestReplaysStoredEventsWithTheirRecordedContext() async throws {
        try await EventsHarness.run { client, h in
            try await Self.standardAccounts(client, h)
            let admin = try await ReviewsTests.key(h, "finance lead", .policyAdmin)
            let from = Timestamp.format(Date().addingTimeInterval(-60))
            _ = try await Self.credit(client, h, account: "acct_a", amount: 500)       // approve either way
            _ = try await Self.credit(client, h, account: "acct_b", amount: 2500)      // approve → review
            _ = try await Self.credit(client, h, account: "acct_c", amount: 4000)      // approve → review
            _ = try await Self.credit(client, h, account: "acct_d", amount: 8000)      // review either way
            _ = try await Self.credit(client, h, account: "acct_unknown", amount: 500) // review either way
            _ = try await h.post(client, validEnvelope("refund.requested", account: "acct_a"))   // another policy's type
            // The account changes afterwards: the backtest uses the context recorded at decision time.
            try await h.syncAccount(client, "acct_b", ["status": "suspended", "tier": "standard", "currency": "USD"])
            let to = Timestamp.format(Date().addingTimeInterval(60))
            let stricter = try await Self.publish(client, try P.stricterCreditPolicy(), key: admin.secret)
            let path = "/v1/policies/credit_thresholds/versions/\(stricter)/backtest"

            let (status, job) = try await P.send(client, .post, path, key: admin.secret, body: "{\"from\": \"\(from)\", \"to\": \"\(to)\"}")
            #expect(status == .ok, "\(job)")
            #expect(job["status"] == "done")
            let report = try #require(job["report"])
            #expect(report["evaluated"] == .int(5), "\(report)")
            #expect(report["outcome_changes"] == .int(2))
            #expect(report["unchanged"] == .int(3))
            #expect(report["transitions"] == ["approve→review": 2])
            #expect(report["money_moved"] == [["transition": "approve→review", "currency": "USD", "amount_minor": 6500, "amount": "65.00 USD"]])
            let sample = try #require(report["sample"]?.arrayValue)
            #expect(sample.map { $0["account_id"] } == ["acct_b", "acct_c"])
            #expect(sample.first?["actual"]?["reasons"]?.arrayValue?.first?.stringValue?.contains("within the standard limit") == true)
            #expect(sample.first?["candidate"]?["reasons"]?.arrayValue?.first?.stringValue?.contains("over the standard auto-approval limit of 10.00") == true)
            #expect(job["progress"]?["percent"] == .int(100))

            // A stored row that cannot be read back is skipped and named, never guessed at.
            let damaged = try #require(try await h.database.string("SELECT id FROM events WHERE account_id = 'acct_d'"))
            try await h.database.execute("UPDATE decisions SET context = '{\"account\": tru' WHERE event_id = ?", [damaged])
            let (_, again) = try await P.send(client, .post, path, key: admin.secret, body: "{\"from\": \"\(from)\", \"to\": \"\(to)\"}")
            #expect(again["report"]?["skipped"] == .int(1), "\(again)")
            #expect(again["report"]?["evaluated"] == .int(4))
            #expect(again["report"]?["first_skip"]?.stringValue?.hasPrefix("event \(damaged): malformed stored JSON") == true, "\(again)")

            // limit: only the first events of the range.
            let (_, limited) = try await P.send(client, .post, path, key: admin.secret,
                                                body: "{\"from\": \"\(from)\", \"to\": \"\(to)\", \"limit\": 2}")
            #expect(limited["report"]?["evaluated"] == .int(2))
            #expect(limited["report"]?["transitions"] == ["approve→review": 1])

            // Bad requests name the field; unknown versions are 404; reviewers cannot run one.
            var (refused, problem) = try await P.send(client, .post, path, key: admin.secret, body: "{\"from\": \"\(to)\", \"to\": \"\(from)\", \"limit\": 0}")
            #expect(refused == .unprocessableContent)
            #expect(Set(problem["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? []) == ["to", "limit"], "\(problem)")
            (refused, problem) = try await P.send(client, .post, path, key: admin.secret, body: "{\"to\": \"yesterday\"}")
            #expect(Set(problem["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? []) == ["from", "to"], "\(problem)")
            (refused, _) = try await P.send(client, .post, "/v1/policies/credit_thresholds/versions/\(String(repeating: "0", count: 64))/backtest",
                                            key: admin.secret, body: "{\"from\": \"\(from)\", \"to\": \"\(to)\"}")
            #expect(refused == .notFound)
            (refused, _) = try await P.send(client, .post, path, key: h.reviewer, body: "{\"from\": \"\(from)\", \"to\": \"\(to)\"}")
            #expect(refused == .forbidden)
        }
    }

    @Test func aLargeBacktestRunsAsAJobWithProgress() async throws {
        try await EventsHarness.run(backtestInlineEvents: 2) { client, h in
            try await Self.standardAccounts(client, h)
            let admin = try await ReviewsTests.key(h, "finance lead", .policyAdmin)
            let from = Timestamp.format(Date().addingTimeInterval(-60))
            for (account, amount) in [("acct_a", 500), ("acct_b", 2500), ("acct_c", 4000)] {
                _ = try await Self.credit(client, h, account: account, amount: Int64(amount))
            }
            let to = Timestamp.format(Date().addingTimeInterval(60))
            let stricter = try await Self.publish(client, try P.stricterCreditPolicy(), key: admin.secret)
            let (status, started) = try await P.send(client, .post, "/v1/policies/credit_thresholds/versions/\(stricter)/backtest",
                                                     key: admin.secret, body: "{\"from\": \"\(from)\", \"to\": \"\(to)\"}")
            #expect(status == .accepted, "\(started)")
            #expect(started["total"] == .int(3))
            let id = try #require(started["id"]?.stringValue)
            var job = JSONValue.null
            #expect(try await eventually {
                job = try await P.send(client, .get, "/v1/policies/credit_thresholds/backtests/\(id)", key: h.reviewer).1
                return job["status"] == "done"
            }, "\(job)")
            #expect(job["report"]?["transitions"] == ["approve→review": 2])
            #expect(job["progress"]?["evaluated"] == .int(3))
            let (missing, _) = try await P.send(client, .get, "/v1/policies/credit_thresholds/backtests/nope", key: h.reviewer)
            #expect(missing == .notFound)
        }
    }

    /// Finance's CLI against a real server: publish, shadow, shadow-report, backtest, activate,
    /// roll back — versions given by prefix, readable output, refusals named.
    @Test func theCLIPublishesShadowsBacktestsActivatesAndRollsBack() async throws {
        try await CrashSafetyTests.withServer { client, base, data in
            let submitter = try await client.key("submitter")
            let finance = try await client.key("policy_admin")
            let from = Timestamp.format(Date().addingTimeInterval(-60))
            for (account, amount) in [("acct_a", 500), ("acct_b", 2500)] {
                _ = try await client.send(.PUT, "/v1/accounts/\(account)", key: try await client.key("sync"), body: #"{"status":"active","tier":"standard","currency":"USD"}"#)
                let body = CanonicalJSON.string(.object(validEnvelope("credit.requested", account: account, payload: ["amount_minor": .int(Int64(amount))])))
                let (status, _, _) = try await client.send(.POST, "/v1/events", key: submitter, body: body)
                #expect(status == 201)
            }
            let to = Timestamp.format(Date().addingTimeInterval(60))
            let directory = URL(fileURLWithPath: scratchDirectory())
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("tests"), withIntermediateDirectories: true)
            let file = directory.appendingPathComponent("credit_thresholds.lua")
            try P.stricterCreditPolicy().write(to: file, atomically: true, encoding: .utf8)
            let version = sha256Hex(Array(try P.stricterCreditPolicy().utf8))
            let prefix = String(version.prefix(10))
            let env = ["ARBITER_KEY": finance, "ARBITER_SERVER": base]

            let publish = try runArbiter(["policy", "publish", file.path], environment: env)
            #expect(publish.status == 0 && publish.output.contains("published credit_thresholds version \(version) (draft)"), "\(publish.output)")
            let shadow = try runArbiter(["policy", "shadow", "credit_thresholds", prefix], environment: env)
            #expect(shadow.status == 0 && shadow.output.contains("runs in shadow on credit.requested"), "\(shadow.output)")
            let credit = CanonicalJSON.string(.object(validEnvelope("credit.requested", account: "acct_a", payload: ["amount_minor": 3000])))
            _ = try await client.send(.POST, "/v1/events", key: submitter, body: credit)
            var report = (status: Int32(0), output: "")
            #expect(try await eventually {
                report = try runArbiter(["policy", "shadow-report", "credit_thresholds"], environment: env)
                return report.output.contains("approve→review")
            }, "\(report.output)")
            #expect(report.output.contains("30.00 USD") && report.output.contains("over the standard auto-approval limit"), "\(report.output)")

            let backtest = try runArbiter(["policy", "backtest", "credit_thresholds", prefix, "--from", from, "--to", to], environment: env)
            #expect(backtest.status == 0, "\(backtest.output)")
            // The two credits over 10.00 (25.00 and the 30.00 sent since) would have gone to review.
            #expect(backtest.output.contains("events evaluated: 3") && backtest.output.contains("outcome would change: 2"), "\(backtest.output)")
            #expect(backtest.output.contains("approve→review") && backtest.output.contains("55.00 USD"), "\(backtest.output)")
            let badRange = try runArbiter(["policy", "backtest", "credit_thresholds", prefix, "--from", to, "--to", from], environment: env)
            #expect(badRange.status != 0 && badRange.output.contains("to: must be after from"), "\(badRange.output)")

            let activate = try runArbiter(["policy", "activate", "credit_thresholds", prefix], environment: env)
            #expect(activate.status == 0 && activate.output.contains("active \(version.prefix(12))"), "\(activate.output)")
            let rollback = try runArbiter(["policy", "rollback", "credit_thresholds"], environment: env)
            #expect(rollback.status == 0 && rollback.output.contains("was \(version.prefix(12))"), "\(rollback.output)")
            let closed = try runArbiter(["policy", "reset-breaker", "credit_thresholds"], environment: env)
            #expect(closed.status != 0 && closed.output.contains("policy credit_thresholds has no open circuit breaker"), "\(closed.output)")
            let unknown = try runArbiter(["policy", "activate", "credit_thresholds", "deadbeefdead"], environment: env)
            #expect(unknown.status != 0 && unknown.output.contains("no version starting with deadbeefdead"), "\(unknown.output)")
        }
    }

    /// A backtest job that a crash or restart cut short is reported as interrupted, never as
    /// running forever; a shadow run survives the restart.
    @Test func aRestartInterruptsRunningJobsAndKeepsShadowRuns() async throws {
        let database = try await TestDatabase.make()
        defer { database.close() }
        let data = scratchDirectory()   // one instance, started twice
        func start() async throws -> some ApplicationProtocol {
            try await buildApplication(database.configure(ServerConfiguration(dataDirectory: data,
                                                           policiesDirectory: repositoryRoot.appendingPathComponent("Policies").path,
                                                           adminKey: EventsHarness.admin)), database: database.appDatabase)
        }
        let source = try P.stricterCreditPolicy()
        let version = sha256Hex(Array(source.utf8))
        try await start().test(.router) { client in
            _ = try await P.send(client, .post, "/v1/policies", key: EventsHarness.admin, body: source, contentType: "text/x-lua")
            let (status, _) = try await P.send(client, .post, "/v1/policies/credit_thresholds/versions/\(version)/shadow", key: EventsHarness.admin)
            #expect(status == .ok)
        }
        // The first run's job, left running (as by a crash).
        let now = Timestamp.format(Date())
        let columns = "id, name, version, range_from, range_to, requested_by, requested_at, status, total"
        let values = "'job-1', 'credit_thresholds', ?, '\(now)', '\(now)', 'test', '\(now)', 'running', 1000000"
        if TestDatabase.onPostgres {
            // On a shared database a job names its instance: the restarting one interrupts only its own.
            let instance = try String(contentsOfFile: data + "/instance-name", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            try await database.execute("INSERT INTO backtests (\(columns), instance) VALUES (\(values), ?)", [version, instance])
            try await database.execute("INSERT INTO backtests (\(columns), instance) VALUES (\(values.replacingOccurrences(of: "job-1", with: "job-2")), 'another-instance')", [version])
        } else {
            try await database.execute("INSERT INTO backtests (\(columns)) VALUES (\(values))", [version])
        }
        try await start().test(.router) { client in
            let (_, job) = try await P.send(client, .get, "/v1/policies/credit_thresholds/backtests/job-1", key: EventsHarness.admin)
            #expect(job["status"] == "interrupted", "\(job)")
            if TestDatabase.onPostgres {
                let (_, other) = try await P.send(client, .get, "/v1/policies/credit_thresholds/backtests/job-2", key: EventsHarness.admin)
                #expect(other["status"] == "running", "another instance's job is not this one's to interrupt: \(other)")
            }
            let (_, list) = try await P.send(client, .get, "/v1/policies", key: EventsHarness.admin)
            #expect(list["policies"]?.arrayValue?.first { $0["name"] == "credit_thresholds" }?["shadow_version"] == .string(version))
            let (_, body, _) = try await EventsHarness(database: database, submitter: EventsHarness.admin, reviewer: EventsHarness.admin, sync: EventsHarness.admin)
                .post(client, validEnvelope("credit.requested"))
            #expect(body["decision"]?["outcome"] != nil)
            #expect(try await eventually {
                try await P.send(client, .get, "/v1/policies/credit_thresholds/shadow-report", key: EventsHarness.admin).1["evaluated"] == .int(1)
            })
        }
    }
}
