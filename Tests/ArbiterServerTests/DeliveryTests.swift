import ArbiterCore
import ArbiterERP
import ArbiterServer
import ArbiterSQLite
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// ERP delivery against a real local HTTP server the test scripts: outcomes, retries, dead
/// letters, per-account order, signatures, the file spool, and the operators' API.
@Suite(.timeLimit(.minutes(5))) struct DeliveryTests {
    static let secret = "erp-signing-secret-0123456789"
    /// Fast retries so the suite runs in seconds.
    static let fast = DeliverySettings(maxAttempts: 4, baseDelay: .milliseconds(40), maxDelay: .seconds(3),
                                       timeout: .seconds(1), concurrency: 8)

    /// A policy that approves every credit request with a credit memo, so tests queue exactly
    /// the actions they want.
    static func approveAllPolicies() throws -> String {
        let directory = try temporaryDirectory()
        try """
        return {
          name = "approve_all", on = { "credit.requested", "entitlement.requested" },
          decide = function(event, ctx)
            local p = event.payload
            if event.type == "entitlement.requested" then
              return approve{ reasons = { "granted" }, actions = { entitlement_grant{ feature = p.feature } } }
            end
            return approve{ reasons = { "ok" }, actions = { credit_memo{ amount_minor = p.amount_minor, currency = p.currency, memo = p.reason } } }
          end,
        }
        """.write(to: directory.appendingPathComponent("approve_all.lua"), atomically: true, encoding: .utf8)
        return directory.path
    }

    static func run(erp: ERPTarget, settings: DeliverySettings = fast,
                    _ body: @Sendable (any TestClientProtocol, EventsHarness) async throws -> Void) async throws {
        try await EventsHarness.run(policies: try approveAllPolicies(), erp: erp, delivery: settings, body)
    }

    /// Submits a credit on `account`; returns the queued action's id.
    @discardableResult
    static func credit(_ client: some TestClientProtocol, _ h: EventsHarness, account: String = "acct_1", amount: Int64 = 2500,
                       memo: String = "goodwill") async throws -> String {
        let (status, body, _) = try await h.post(client, validEnvelope("credit.requested", account: account,
                                                                        payload: ["amount_minor": .int(amount), "reason": .string(memo)]))
        #expect(status == .created, "\(body)")
        return try #require(body["decision"]?["actions"]?.arrayValue?.first?["id"]?.stringValue)
    }

    static func action(_ client: some TestClientProtocol, _ h: EventsHarness, _ id: String) async throws -> JSONValue {
        try await h.get(client, "/v1/actions/\(id)", key: EventsHarness.admin).1
    }

    static func status(_ h: EventsHarness, _ id: String) async throws -> String? {
        try await h.database.string("SELECT status FROM outbox_actions WHERE id = ?", [id])
    }

    @Test func deliveredWithReferenceSignedAndAudited() async throws {
        let erp = try await FakeERP.start { _, _ in .status(201, body: #"{"reference":"CM-1001"}"#) }
        defer { Task { await erp.stop() } }
        try await Self.run(erp: .http(url: erp.url, secret: Self.secret)) { client, h in
            let id = try await Self.credit(client, h)
            #expect(try await eventually { try await Self.status(h, id) == "delivered" })
            let action = try await Self.action(client, h, id)
            #expect(action["erp_reference"] == "CM-1001")
            #expect(action["attempt_log"]?.arrayValue?.count == 1)
            let receipt = try #require(erp.receipts.first)
            #expect(receipt.key == id)
            #expect(receipt.json["id"] == .string(id))
            #expect(receipt.json["type"] == "credit_memo")
            #expect(receipt.json["amount_minor"] == .int(2500))
            #expect(receipt.json["account_id"] == "acct_1")
            // The receiver can check the signature with the shared secret.
            let time = try #require(receipt.signature.split(separator: ",").first?.dropFirst(2)).description
            #expect(receipt.signature == HTTPConnector.signature(body: receipt.body, time: Int(time)!, secret: Self.secret))
            #expect(receipt.signature != HTTPConnector.signature(body: receipt.body, time: Int(time)!, secret: "another-secret-0123456"))
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'action.delivered' AND subject = '\(id)'") == 1)
            #expect(try await h.database.verifyAudit().isIntact)
        }
    }

    @Test func aConflictMeansTheERPAlreadyHasIt() async throws {
        let erp = try await FakeERP.start { _, _ in .status(409, body: #"{"reference":"CM-7"}"#) }
        defer { Task { await erp.stop() } }
        try await Self.run(erp: .http(url: erp.url, secret: Self.secret)) { client, h in
            let id = try await Self.credit(client, h)
            #expect(try await eventually { try await Self.status(h, id) == "delivered" })
            #expect(try await Self.action(client, h, id)["erp_reference"] == "CM-7")
        }
    }

    @Test func serverErrorsAreRetriedWithBackoffThenDelivered() async throws {
        let erp = try await FakeERP.start { _, n in n <= 2 ? .status(503, body: "maintenance") : .status(200) }
        defer { Task { await erp.stop() } }
        try await Self.run(erp: .http(url: erp.url, secret: Self.secret)) { client, h in
            let id = try await Self.credit(client, h)
            #expect(try await eventually { try await Self.status(h, id) == "delivered" })
            let action = try await Self.action(client, h, id)
            #expect(action["attempts"] == .int(3))
            #expect(action["attempt_log"]?.arrayValue?.map { $0["result"] } == ["retry", "retry", "delivered"])
            #expect(action["attempt_log"]?.arrayValue?.first?["status_code"] == .int(503))
            #expect(Set(erp.receipts.map(\.key)) == [id], "every attempt carries the same idempotency key")
            let gaps = zip(erp.receipts, erp.receipts.dropFirst()).map { $1.at.timeIntervalSince($0.at) }
            #expect(gaps.allSatisfy { $0 >= 0.015 }, "attempts are spaced by the backoff: \(gaps)")
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'action.attempt_failed'") == 2)
        }
    }

    @Test func tooManyRequestsHonoursRetryAfter() async throws {
        let erp = try await FakeERP.start { _, n in n == 1 ? .status(429, headers: ["Retry-After": "1"]) : .status(200) }
        defer { Task { await erp.stop() } }
        try await Self.run(erp: .http(url: erp.url, secret: Self.secret)) { client, h in
            let id = try await Self.credit(client, h)
            #expect(try await eventually { try await Self.status(h, id) == "delivered" })
            let receipts = erp.receipts
            #expect(receipts.count == 2)
            #expect(receipts[1].at.timeIntervalSince(receipts[0].at) >= 0.95, "the second attempt waits for Retry-After")
        }
    }

    @Test func timeOutsAreRetried() async throws {
        let erp = try await FakeERP.start { _, n in n == 1 ? .delayed(.seconds(3), 200) : .status(200, body: #"{"reference":"late"}"#) }
        defer { Task { await erp.stop() } }
        try await Self.run(erp: .http(url: erp.url, secret: Self.secret)) { client, h in
            let id = try await Self.credit(client, h)
            #expect(try await eventually { try await Self.status(h, id) == "delivered" })
            let log = try await Self.action(client, h, id)["attempt_log"]?.arrayValue ?? []
            #expect(log.first?["error"] == "timed out after 1000 ms (the whole attempt, answer included)", "\(log)")
            #expect(log.last?["result"] == "delivered")
        }
    }

    /// An ERP that sends its headers and then nothing: a time-out, retried; never an attempt in
    /// flight forever (operators can act on it, delivery goes on, the service stops).
    @Test func aStalledAnswerIsATimeOutNotADeliveryForever() async throws {
        let erp = try await FakeERP.start { _, n in n <= 2 ? .stalledBody(201) : .status(201, body: #"{"reference":"DOC-9"}"#) }
        defer { Task { await erp.stop() } }
        // A time-out of a second: long enough that an answer that does come is not cut off on a
        // loaded machine, short enough for the test.
        let settings = DeliverySettings(maxAttempts: 2, baseDelay: .milliseconds(40), maxDelay: .seconds(1),
                                        timeout: .seconds(1), concurrency: 4)
        try await Self.run(erp: .http(url: erp.url, secret: Self.secret), settings: settings) { client, h in
            let id = try await Self.credit(client, h)
            // Two stalled answers: out of attempts, a dead letter an operator can retry.
            #expect(try await eventually { try await Self.status(h, id) == "dead" })
            let log = try await Self.action(client, h, id)["attempt_log"]?.arrayValue ?? []
            #expect(log.map { $0["error"] } == Array(repeating: "timed out after 1000 ms (the whole attempt, answer included)", count: 2), "\(log)")
            let (retried, _) = try await PoliciesTests.send(client, .post, "/v1/actions/\(id)/retry", key: EventsHarness.admin)
            #expect(retried == .ok)
            #expect(try await eventually(timeout: .seconds(30)) { try await Self.status(h, id) == "delivered" })
            #expect(try await Self.action(client, h, id)["erp_reference"] == "DOC-9")
        }
    }

    /// When an attempt cannot be recorded (here a trigger refuses it, as a full disk would), the
    /// dispatcher pauses — 1 s, then longer — instead of sending the same request in a loop.
    @Test func anAttemptThatCannotBeRecordedPausesDelivery() async throws {
        let erp = try await FakeERP.start()
        defer { Task { await erp.stop() } }
        try await Self.run(erp: .http(url: erp.url, secret: Self.secret)) { client, h in
            try await h.database.refuseInserts(into: "outbox_attempts", error: "disk full")
            let id = try await Self.credit(client, h)
            #expect(try await eventually { erp.receipts.count >= 2 })
            let receipts = erp.receipts
            #expect(receipts.count <= 3, "sent \(receipts.count) times before the second send was seen")
            #expect(receipts[1].at.timeIntervalSince(receipts[0].at) >= 0.9, "the second send waits for the pause")
            #expect(Set(receipts.map(\.key)) == [id])
            try await h.database.allowInserts(into: "outbox_attempts")
            #expect(try await eventually { try await Self.status(h, id) == "delivered" })
        }
    }

    @Test func aRefusedConnectionIsRetriedUntilTheERPComesBack() async throws {
        let port = try FakeERP.freePort()
        let settings = DeliverySettings(maxAttempts: 20, baseDelay: .milliseconds(50), maxDelay: .milliseconds(200),
                                        timeout: .seconds(5), concurrency: 4)
        try await Self.run(erp: .http(url: "http://127.0.0.1:\(port)/erp/actions", secret: Self.secret), settings: settings) { client, h in
            let id = try await Self.credit(client, h)
            #expect(try await eventually(timeout: .seconds(15)) {
                try await h.count("SELECT attempts FROM outbox_actions WHERE id = '\(id)'") >= 2
            })
            let log = try await Self.action(client, h, id)["attempt_log"]?.arrayValue ?? []
            // Under a loaded test run an attempt may also time out; a refusal must be among them.
            #expect(log.contains { $0["error"]?.stringValue?.contains("refused") == true }, "\(log)")
            let erp = try await FakeERP.start(port: port)
            defer { Task { await erp.stop() } }
            #expect(try await eventually { try await Self.status(h, id) == "delivered" })
            // A slow answer under load may be retried: at least once, always under its own key.
            #expect(Set(erp.receipts.map(\.key)) == [id])
        }
    }

    @Test func aRejectedActionIsDeadAtOnceAndHoldsItsAccountUntilAnOperatorActs() async throws {
        let erp = try await FakeERP.start { receipt, _ in
            receipt.json["memo"] == "bad" ? .status(400, body: #"{"error":"unknown customer"}"#) : .status(201)
        }
        defer { Task { await erp.stop() } }
        try await Self.run(erp: .http(url: erp.url, secret: Self.secret)) { client, h in
            let bad = try await Self.credit(client, h, memo: "bad")
            let behind = try await Self.credit(client, h, memo: "fine")
            let other = try await Self.credit(client, h, account: "acct_2")
            #expect(try await eventually { try await Self.status(h, bad) == "dead" })
            #expect(try await eventually { try await Self.status(h, other) == "delivered" })
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await Self.status(h, behind) == "pending", "the dead letter holds its account's line")
            let dead = try await Self.action(client, h, bad)
            #expect(dead["attempts"] == .int(1), "a 400 is not retried")
            #expect(dead["response_body"]?.stringValue?.contains("unknown customer") == true)
            #expect(try await Self.action(client, h, behind)["held_by"] == .string(bad))
            let (_, deadList) = try await h.get(client, "/v1/actions?status=dead", key: EventsHarness.admin)
            #expect(deadList["items"]?.arrayValue?.map { $0["id"] } == [.string(bad)])

            // Operators: a submitter may not, a cancel needs a comment, then the line moves on.
            let operatorKey = try await ReviewsTests.key(h, "ops", .operator)
            func post(_ path: String, _ body: String, key: String) async throws -> HTTPResponse.Status {
                try await client.execute(uri: path, method: .post, headers: h.headers(key), body: ByteBuffer(string: body)) { $0.status }
            }
            #expect(try await post("/v1/actions/\(bad)/cancel", #"{"comment":"x"}"#, key: h.submitter) == .forbidden)
            #expect(try await post("/v1/actions/\(bad)/cancel", "{}", key: operatorKey.secret) == .unprocessableContent)
            #expect(try await post("/v1/actions/\(other)/retry", "{}", key: operatorKey.secret) == .conflict)
            #expect(try await post("/v1/actions/\(bad)/cancel", #"{"comment":"customer merged; credited by hand"}"#,
                                   key: operatorKey.secret) == .ok)
            #expect(try await eventually { try await Self.status(h, behind) == "delivered" })
            #expect(try await Self.status(h, bad) == "cancelled")
            #expect(try await post("/v1/actions/\(bad)/cancel", #"{"comment":"again"}"#, key: operatorKey.secret) == .conflict)
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'action.cancelled' AND subject = '\(bad)' AND actor = '\(operatorKey.id)'") == 1)
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'action.dead_lettered'") == 1)
        }
    }

    @Test func outOfAttemptsIsDeadAndARetryDeliversIt() async throws {
        let erp = try await FakeERP.start { _, _ in .status(500) }
        defer { Task { await erp.stop() } }
        try await Self.run(erp: .http(url: erp.url, secret: Self.secret)) { client, h in
            let id = try await Self.credit(client, h)
            #expect(try await eventually { try await Self.status(h, id) == "dead" })
            #expect(erp.receipts.count == Self.fast.maxAttempts)
            #expect(try await Self.action(client, h, id)["last_error"]?.stringValue?.contains("gave up after 4 attempts") == true)
            erp.answer { _, _ in .status(201, body: #"{"reference":"after-retry"}"#) }
            let status = try await client.execute(uri: "/v1/actions/\(id)/retry", method: .post, headers: h.headers(EventsHarness.admin),
                                                  body: ByteBuffer(string: #"{"comment":"ERP fixed"}"#)) { $0.status }
            #expect(status == .ok)
            #expect(try await eventually { try await Self.status(h, id) == "delivered" })
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'action.retried'") == 1)
        }
    }

    @Test func eachAccountIsDeliveredInOrderThroughRetries() async throws {
        // The second action of each account fails twice; nothing after it may overtake it.
        let erp = try await FakeERP.start { receipt, n in receipt.json["memo"] == "2" && n <= 2 ? .status(502) : .status(201) }
        defer { Task { await erp.stop() } }
        try await Self.run(erp: .http(url: erp.url, secret: Self.secret)) { client, h in
            var queued: [String: [String]] = [:]
            for n in 1...5 {
                for account in ["acct_a", "acct_b", "acct_c"] {
                    queued[account, default: []].append(try await Self.credit(client, h, account: account, memo: String(n)))
                }
            }
            #expect(try await eventually { try await h.count("SELECT COUNT(*) FROM outbox_actions WHERE status = 'delivered'") == 15 })
            for (account, ids) in queued {
                // The first time each action arrived, per account, is the queue order.
                var firstArrival: [String] = []
                for receipt in erp.receipts where receipt.json["account_id"] == .string(account) && !firstArrival.contains(receipt.key) {
                    firstArrival.append(receipt.key)
                }
                #expect(firstArrival == ids, "\(account)")
                let delivered = erp.receipts.filter { $0.json["account_id"] == .string(account) }.map(\.key)
                let secondIndex = try #require(delivered.lastIndex(of: ids[1]))
                #expect(!delivered[..<secondIndex].contains(ids[2]), "\(account): the third was sent before the second was through")
            }
        }
    }

    @Test func deliveredSuspensionsAndGrantsUpdateTheAccount() async throws {
        let erp = try await FakeERP.start()
        defer { Task { await erp.stop() } }
        try await EventsHarness.run(erp: .http(url: erp.url, secret: Self.secret), delivery: Self.fast) { client, h in
            try await h.syncAccount(client, "acct_9", ["status": "active", "tier": "standard", "currency": "USD"])
            for attempt in 1...4 {
                let (_, body, _) = try await h.post(client, validEnvelope("payment.failed", account: "acct_9", payload: ["attempt": .int(Int64(attempt))]))
                if attempt == 4 { #expect(body["decision"]?["actions"]?.arrayValue?.first?["type"] == "account_suspension", "\(body)") }
            }
            #expect(try await eventually {
                try await h.get(client, "/v1/accounts/acct_9", key: h.reviewer).1["account"]?["status"] == "suspended"
            })
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'account.updated' AND actor = 'erp'") == 1)
        }
    }

    @Test func theFileSpoolWritesWholeLinesOnceEach() async throws {
        let spool = try temporaryDirectory().appendingPathComponent("spool").path
        let database = try AppDatabase.open(path: try temporaryDirectory().appendingPathComponent("arbiter.sqlite").path)
        let ids = Locked<[String]>([])
        for round in 0..<2 {
            // Two service lifetimes on one database: the second must not write the first's lines again.
            let app = try await buildApplication(
                ServerConfiguration(dataDirectory: scratchDirectory(), policiesDirectory: try Self.approveAllPolicies(),
                                    adminKey: EventsHarness.admin, erp: .spool(directory: spool), delivery: Self.fast),
                database: database)
            let submitter = try await database.writer.write { db in
                try ApiKeys.create(db, name: "zendesk \(round)", role: .submitter, createdBy: "test").secret
            }
            try await app.test(.router) { client in
                let h = EventsHarness(database: .sqlite(database), submitter: submitter, reviewer: submitter, sync: submitter)
                for n in 0..<5 {
                    let id = try await Self.credit(client, h, account: "acct_\(n % 2)", memo: "round \(round) #\(n)")
                    ids.withLock { $0.append(id) }
                }
                #expect(try await eventually { try await h.count("SELECT COUNT(*) FROM outbox_actions WHERE status = 'pending'") == 0 })
            }
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: spool).filter { $0.hasSuffix(".ndjson") }
        #expect(files.count == 1)
        let text = try String(contentsOfFile: spool + "/" + files[0], encoding: .utf8)
        #expect(text.hasSuffix("\n"))
        let lines = text.split(separator: "\n").map { try? JSONValue.parse(Data($0.utf8)) }
        #expect(lines.allSatisfy { $0 != nil }, "every line is a whole JSON object")
        #expect(lines.compactMap { $0?["idempotency_key"]?.stringValue } == ids.withLock { $0 })
        #expect(lines.allSatisfy { $0?["idempotency_key"] == $0?["action"]?["id"] })
    }

    @Test func withoutAConnectorActionsWaitAndReadinessSaysSo() async throws {
        try await Self.run(erp: .none) { client, h in
            let id = try await Self.credit(client, h)
            // Counts are taken in the background (every 50 ms here).
            var ready = JSONValue.null
            #expect(try await eventually {
                ready = try await h.get(client, "/readyz").1
                return ready["erp"]?["pending_actions"] == .int(1)
            }, "\(ready)")
            #expect(ready["erp"]?["connector"] == "none")
            #expect(ready["erp"]?["note"]?.stringValue?.contains("wait in the outbox") == true)
            // Nothing could send it: without a connector the dispatcher does not run at all.
            #expect(try await Self.status(h, id) == "pending")
            let metrics = try await h.metrics(client)
            #expect(metrics.contains(#"arbiter_outbox_actions{status="pending"} 1"#), "\(metrics)")
        }
    }
}

/// Scripts/erp-receiver.py, the integrators' receiver, against the real HTTP connector: it
/// verifies the signature and key, answers with a reference, and fails when told to.
@Suite(.timeLimit(.minutes(5))) struct ERPReceiverScriptTests {
    @Test func theReceiverAcceptsSignedActionsAndFailsOnRequest() async throws {
        let port = try FakeERP.freePort()
        let log = try temporaryDirectory().appendingPathComponent("receiver.log")
        let output = try ChildProcess.logFile(log)
        let receiver: ChildProcess
        do {
            receiver = try ChildProcess(URL(fileURLWithPath: "/usr/bin/env"),
                                        ["python3", repositoryRoot.appendingPathComponent("Scripts/erp-receiver.py").path, "--port", String(port),
                                         "--secret", DeliveryTests.secret, "--fail-status", "503", "--fail-count", "1"], output: output)
        } catch {
            close(output)
            throw error
        }
        close(output)
        func stop() {
            receiver.signal(SIGKILL)
            receiver.wait()
        }
        defer { stop() }
        #expect(try await eventually(timeout: .seconds(10)) { FakeERP.listening(port: port) }, "the receiver did not start")
        try await DeliveryTests.run(erp: .http(url: "http://127.0.0.1:\(port)/actions", secret: DeliveryTests.secret)) { client, h in
            let first = try await DeliveryTests.credit(client, h, memo: "outage credit")
            #expect(try await eventually { try await DeliveryTests.status(h, first) == "delivered" })
            let action = try await DeliveryTests.action(client, h, first)
            #expect(action["erp_reference"] == "ERP-000001")
            #expect(action["attempt_log"]?.arrayValue?.first?["status_code"] == .int(503), "told to fail once")
        }
        // With the wrong secret every action is refused (401: a dead letter, not a retry).
        try await DeliveryTests.run(erp: .http(url: "http://127.0.0.1:\(port)/actions", secret: "not-the-shared-secret-000")) { client, h in
            let id = try await DeliveryTests.credit(client, h)
            #expect(try await eventually { try await DeliveryTests.status(h, id) == "dead" })
            #expect(try await DeliveryTests.action(client, h, id)["response_body"]?.stringValue?.contains("signature does not match") == true)
        }
        stop()
        let printed = try String(contentsOf: log, encoding: .utf8)
        #expect(printed.contains("ERP-000001  credit_memo"), "\(printed)")
        #expect(printed.contains("outage credit"))
        #expect(printed.contains("REFUSED: signature does not match"))
    }
}
