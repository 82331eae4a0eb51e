import ArbiterApp
import ArbiterCore
import ArbiterServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// Two instances of the service — each with its own engine, committer, dispatcher, caches and
/// data directory — on one PostgreSQL database, as two processes behind a load balancer would
/// be. Runs when a cluster is there (`ARBITER_TEST_POSTGRES`; `Scripts/test.sh` starts one).
@Suite(.timeLimit(.minutes(5)), .enabled(if: TestDatabase.postgresCluster != nil))
struct TwoInstanceTests {
    typealias P = PoliciesTests

    /// Runs `body` with a client for each of two instances on one new database, and a harness
    /// (keys, database reads) for both.
    static func run(policies: String? = repositoryRoot.appendingPathComponent("Policies").path, erp: ERPTarget = .none,
                    delivery: DeliverySettings = DeliverySettings(), reviews: ReviewSettings = ReviewSettings(),
                    escalationInterval: Duration = .seconds(1), backtestInlineEvents: Int = 20_000,
                    exportInlineWait: Duration = .seconds(5),
                    _ body: @Sendable (EventsHarness, any TestClientProtocol, any TestClientProtocol) async throws -> Void) async throws {
        let database = try await TestDatabase.make(on: try #require(TestDatabase.postgresCluster))
        defer { database.close() }
        let exports = scratchDirectory()   // the directory instances share for exports
        func instance() async throws -> some ApplicationProtocol {
            var configuration = database.configure(ServerConfiguration(
                dataDirectory: scratchDirectory(), policiesDirectory: policies, adminKey: EventsHarness.admin, reviews: reviews,
                escalationInterval: escalationInterval, erp: erp, delivery: delivery, backtestInlineEvents: backtestInlineEvents,
                exportInlineWait: exportInlineWait, gaugesInterval: .milliseconds(50)))
            configuration.exportsDirectory = exports
            return try await buildApplication(configuration)
        }
        let one = try await instance()
        let two = try await instance()
        let keys = Keys(store: database.keys)
        let h = EventsHarness(database: database, submitter: try await keys.create(name: "zendesk", role: .submitter, by: "test").secret,
                              reviewer: try await keys.create(name: "ana", role: .reviewer, by: "test").secret,
                              sync: try await keys.create(name: "billing sync", role: .sync, by: "test").secret)
        try await one.test(.router) { first in
            try await two.test(.router) { second in try await body(h, first, second) }
        }
    }

    @Test func cumulativeCapsHoldAcrossInstances() async throws {
        try await Self.run { h, one, two in
            try await h.syncAccount(one, "acct_cap", ["status": "active", "tier": "standard", "currency": "USD"])
            // 50 credits of 30.00 for one account, half through each instance: the standard cap
            // (100.00 in 90 days) lets exactly three through, whatever the interleaving.
            let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
                for i in 0..<50 {
                    let client = i.isMultiple(of: 2) ? one : two
                    group.addTask {
                        let (status, body, _) = try await h.post(client, validEnvelope("credit.requested", id: "cap-\(i)", account: "acct_cap",
                                                                                       payload: ["amount_minor": 3000]))
                        #expect(status == .created, "\(body)")
                        return body["decision"]?["outcome"]?.stringValue ?? "?"
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 == "approve" }.count == 3, "\(outcomes)")
            #expect(outcomes.filter { $0 == "review" }.count == 47)
            let (_, account) = try await h.get(two, "/v1/accounts/acct_cap")
            #expect(account["history"]?["credits_90d_minor"] == 9000)
        }
    }

    @Test func bothInstancesAppendToOneGapFreeChain() async throws {
        try await Self.run { h, one, two in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<120 {
                    let client = i.isMultiple(of: 2) ? one : two
                    group.addTask {
                        if i.isMultiple(of: 10) {
                            try await h.syncAccount(client, "acct_\(i % 7)", ["status": "active", "tier": "premium", "currency": "USD"])
                        } else {
                            let (status, body, _) = try await h.post(client, validEnvelope(i.isMultiple(of: 3) ? "payment.failed" : "credit.requested",
                                                                                           id: "chain-\(i)", account: "acct_\(i % 7)"))
                            #expect(status == .created, "\(body)")
                        }
                    }
                }
                try await group.waitForAll()
            }
            let entries = try await h.count("SELECT COUNT(*) FROM audit_log")
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'decision.made'") == 108)
            #expect(try await h.database.verifyAudit().isIntact)
            for client in [one, two] {
                let (_, verified) = try await h.get(client, "/v1/audit/verify", key: EventsHarness.admin)
                #expect(verified["status"] == "intact", "\(verified)")
                #expect(verified["entries"] == .int(Int64(entries)))
            }
            #expect(try await h.count("SELECT MAX(seq) FROM audit_log") == entries, "no gap")
        }
    }

    @Test func racingClaimsAndApprovalsHaveOneWinner() async throws {
        try await Self.run { h, one, two in
            try await ReviewsTests.standardAccount(one, h)
            let other = try await ReviewsTests.key(h, "ben", .reviewer)
            for _ in 0..<5 {
                // Claims: one through each instance at once.
                let claimed = try await ReviewsTests.creditForReview(one, h)
                async let a = ReviewsTests.command(one, h, claimed, "claim", key: h.reviewer)
                async let b = ReviewsTests.command(two, h, claimed, "claim", key: other.secret)
                let claims = [try await a.0, try await b.0]
                #expect(claims.filter { $0 == .ok }.count == 1, "\(claims)")
                #expect(claims.filter { $0 == .conflict }.count == 1, "\(claims)")
                // Final approvals of an item needing one: one through each instance at once.
                let approved = try await ReviewsTests.creditForReview(two, h)
                async let c = ReviewsTests.command(one, h, approved, "approve", key: h.reviewer, ["comment": "fine"])
                async let d = ReviewsTests.command(two, h, approved, "approve", key: other.secret, ["comment": "fine"])
                let approvals = [try await c.0, try await d.0]
                #expect(approvals.filter { $0 == .ok }.count == 1, "\(approvals)")
                #expect(approvals.filter { $0 == .conflict }.count == 1, "\(approvals)")
                #expect(try await h.count("SELECT COUNT(*) FROM outbox_actions WHERE review_id = ?", [approved]) == 1)
            }
            #expect(try await h.database.verifyAudit().isIntact)
        }
    }

    @Test func anOverdueItemEscalatesOnceAndExpiredClaimsAreReleasedByEitherSweep() async throws {
        let reviews = ReviewSettings(claimSeconds: 1, queues: ["entitlements": QueueSettings(slaSeconds: 1, escalateTo: "leads"),
                                                              "leads": QueueSettings(slaSeconds: 3600)])
        try await Self.run(reviews: reviews, escalationInterval: .milliseconds(50)) { h, one, two in
            try await h.syncAccount(one, "acct_1", ["status": "active", "tier": "free", "currency": "USD"])
            var ids: [String] = []
            for n in 0..<6 {
                let client = n.isMultiple(of: 2) ? one : two
                let (_, body, _) = try await h.post(client, validEnvelope("entitlement.requested", id: "ent-\(n)"))
                ids.append(try #require(body["decision"]?["review_id"]?.stringValue))
            }
            let (claim, _) = try await ReviewsTests.command(two, h, ids[0], "claim", key: h.reviewer)
            #expect(claim == .ok)
            #expect(try await eventually {
                // The claimed one stays with its claimer when it escalates, until the claim runs out.
                let escalated = try await h.count("SELECT COUNT(*) FROM review_items WHERE state = 'escalated'")
                let expired = try await h.count("SELECT COUNT(*) FROM review_history WHERE action = 'claim_expired'")
                return escalated == 6 && expired == 1
            })
            // Both sweeps keep running: two more rounds of each, and still one escalation per item.
            func sweeps(_ client: some TestClientProtocol) async throws -> Int {
                try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
                    .split(separator: "\n").first { $0.hasPrefix("arbiter_review_sweeps_total ") }
                    .flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
            }
            let (seenOne, seenTwo) = (try await sweeps(one), try await sweeps(two))
            #expect(try await eventually {
                let (first, second) = (try await sweeps(one), try await sweeps(two))
                return first >= seenOne + 2 && second >= seenTwo + 2
            })
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'review.escalated'") == 6)
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'review.claim_expired'") == 1)
            #expect(try await h.count("SELECT COUNT(*) FROM review_history WHERE action = 'escalated'") == 6)
        }
    }

    @Test func bothDispatchersDeliverEachActionOnceInOrderPerAccount() async throws {
        let erp = try await FakeERP.start()
        defer { Task { await erp.stop() } }
        try await Self.run(policies: try DeliveryTests.approveAllPolicies(), erp: .http(url: erp.url, secret: DeliveryTests.secret),
                           delivery: DeliveryTests.fast) { h, one, two in
            var queued: [String: [String]] = [:]
            for n in 0..<40 {
                let account = "acct_\(n % 8)"
                let client = n.isMultiple(of: 2) ? one : two
                let id = try await DeliveryTests.credit(client, h, account: account, memo: "#\(n)")
                queued[account, default: []].append(id)
            }
            #expect(try await eventually { try await h.count("SELECT COUNT(*) FROM outbox_actions WHERE status = 'delivered'") == 40 })
            let receipts = erp.receipts
            #expect(receipts.count == 40, "each action once: \(receipts.count) requests")
            #expect(Set(receipts.map(\.key)).count == 40)
            for (account, ids) in queued {
                let order = receipts.map(\.key).filter { ids.contains($0) }
                #expect(order == ids, "\(account) delivered in the order it was queued")
            }
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'action.delivered'") == 40)
        }
    }

    @Test func anOperatorRetriesAndCancelsThroughEitherInstance() async throws {
        // The ERP refuses a memo "bad" the first time it sees the action, then takes it.
        let erp = try await FakeERP.start { receipt, n in
            receipt.json["memo"] == "bad" && n == 1 ? .status(400, body: #"{"error":"unknown customer"}"#) : .status(201)
        }
        defer { Task { await erp.stop() } }
        try await Self.run(policies: try DeliveryTests.approveAllPolicies(), erp: .http(url: erp.url, secret: DeliveryTests.secret),
                           delivery: DeliveryTests.fast) { h, one, two in
            let retried = try await DeliveryTests.credit(one, h, account: "acct_r", memo: "bad")
            let cancelled = try await DeliveryTests.credit(one, h, account: "acct_c", memo: "bad")
            #expect(try await eventually {
                try await h.count("SELECT COUNT(*) FROM outbox_actions WHERE status = 'dead'") == 2
            })
            let (retry, _) = try await P.send(two, .post, "/v1/actions/\(retried)/retry", key: EventsHarness.admin,
                                              body: #"{"comment": "customer created in the ERP"}"#)
            #expect(retry == .ok)
            let (cancel, _) = try await P.send(two, .post, "/v1/actions/\(cancelled)/cancel", key: EventsHarness.admin,
                                               body: #"{"comment": "credited by hand"}"#)
            #expect(cancel == .ok)
            #expect(try await eventually { try await DeliveryTests.status(h, retried) == "delivered" })
            #expect(try await DeliveryTests.status(h, cancelled) == "cancelled")
            #expect(erp.receipts.filter { $0.key == cancelled }.count == 1, "a cancelled action is not sent again")
        }
    }

    @Test func changesOnOneInstanceTakeEffectOnTheOtherWithinASecond() async throws {
        try await Self.run { h, one, two in
            let admin = EventsHarness.admin
            let simulated = CanonicalJSON.string(.object(["event": .object(validEnvelope("credit.requested", account: "acct_sim",
                                                                                         payload: ["amount_minor": 500]))]))
            func decides(_ client: some TestClientProtocol) async throws -> Bool {
                let (_, result) = try await P.send(client, .post, "/v1/simulate", key: admin, body: simulated)
                return result["versions"]?["credit_thresholds"] != nil
            }
            #expect(try await decides(two))
            let (off, _) = try await P.send(one, .post, "/v1/policies/credit_thresholds/deactivate", key: admin)
            #expect(off == .ok)
            #expect(try await eventually(timeout: .seconds(1)) { try await !decides(two) }, "deactivated on the other within 1 s")
            let (_, versions) = try await P.send(one, .get, "/v1/policies/credit_thresholds/versions", key: admin)
            let version = try #require(versions["versions"]?.arrayValue?.first?["version"]?.stringValue)
            let (on, _) = try await P.send(one, .post, "/v1/policies/credit_thresholds/versions/\(version)/activate", key: admin)
            #expect(on == .ok)
            #expect(try await eventually(timeout: .seconds(1)) { try await decides(two) }, "activated on the other within 1 s")

            // A key revoked through one instance is refused by the other within a second.
            let created = try await Keys(store: h.database.keys).create(name: "short-lived", role: .submitter, by: "test")
            let (before, _, _) = try await h.post(two, validEnvelope("payment.failed", id: "k-1"), key: created.secret)
            #expect(before == .created)   // cached on the other instance now
            let (revoked, _) = try await P.send(one, .post, "/v1/keys/\(created.key.id)/revoke", key: admin)
            #expect(revoked == .ok)
            var n = 1
            #expect(try await eventually(timeout: .seconds(1)) {
                n += 1
                return try await h.post(two, validEnvelope("payment.failed", id: "k-\(n)"), key: created.secret).0 == .unauthorized
            })
        }
    }

    @Test func aMappingActivatedOnOneMapsOnTheOtherWithinASecond() async throws {
        try await Self.run(policies: try InboundMappedTests.policies()) { h, one, two in
            try await h.syncAccount(one, "acct_cb", ["status": "active", "currency": "USD", "external_refs": ["chargebee": "cb_cust_42"]])
            let shipped = try String(contentsOf: repositoryRoot.appendingPathComponent("Policies/mappings/chargebee.lua"), encoding: .utf8)
            let v2 = shipped.replacingOccurrences(of: "code = transaction.error_code", with: "code = \"v2:\" .. transaction.error_code")
            let tests = try String(contentsOf: repositoryRoot.appendingPathComponent("Policies/mappings/tests/chargebee.json"), encoding: .utf8)
                .replacingOccurrences(of: "\"failure_code\": \"card_declined\"", with: "\"failure_code\": \"v2:card_declined\"")
            let (created, published) = try await MappingVersionTests.send(one, "/v1/inbound/sources/chargebee/mappings",
                                                                          ["script": .string(v2), "tests": try JSONValue.parse(Data(tests.utf8))])
            #expect(created == .created, "\(published)")
            let version = try #require(published["version"]?.stringValue)
            let (activated, _) = try await MappingVersionTests.send(one, "/v1/inbound/sources/chargebee/mappings/\(version)/activate", [:])
            #expect(activated == .ok)
            let auth = InboundMappedTests.basic(InboundMappedTests.chargebeeAuth)
            var n = 0
            let live = try await eventually(timeout: .seconds(1)) {
                n += 1
                let (_, answer, _) = try await InboundMappedTests.post(two, "chargebee", InboundMappedTests.paymentFailed("ev_two_\(n)"), headers: auth)
                guard let eventId = answer["events"]?.arrayValue?.first?["event_id"]?.stringValue else { return false }
                let (_, stored) = try await h.get(two, "/v1/events/\(eventId)")
                return stored["envelope"]?["payload"]?["failure_code"] == "v2:card_declined"
            }
            #expect(live, "the other instance maps with the new version within a second")
        }
    }

    @Test func aSourceAddedRotatedAndRemovedOnOneIsSoOnTheOtherWithinASecond() async throws {
        try await Self.run(policies: try InboundMappedTests.policies()) { h, one, two in
            try await h.syncAccount(one, "acct_rel", ["status": "active", "tier": "standard"])
            let secret = InboundSourcesAdminTests.relaySecret
            let (created, _, text) = try await InboundSourcesAdminTests.request(one, .put, "/v1/inbound/sources/relay",
                                                                                try InboundSourcesAdminTests.relay(secrets: [secret]))
            #expect(created == .created, "\(text)")
            var n = 0
            func accepted(_ secret: String) async throws -> HTTPResponse.Status {
                n += 1
                let body: JSONValue = ["ChangeEventHeader": ["entityName": "Account", "recordIds": ["001REL"], "changeType": "UPDATE"],
                                       "Arbiter_Account_Id__c": "acct_rel", "Tier__c": .string("tier-\(n)")]
                return try await InboundMappedTests.post(two, "relay", body, headers: InboundMappedTests.signed(body, secret: secret)).0
            }
            #expect(try await eventually(timeout: .seconds(1)) { try await accepted(secret) == .ok }, "added on the other within 1 s")
            let rotated = "relay-secret-rotated-on-one-0000"
            _ = try await InboundSourcesAdminTests.request(one, .put, "/v1/inbound/sources/relay",
                                                           try InboundSourcesAdminTests.relay(secrets: [rotated], withMapping: false))
            #expect(try await eventually(timeout: .seconds(1)) { try await accepted(secret) == .unauthorized }, "rotated on the other within 1 s")
            #expect(try await accepted(rotated) == .ok)
            #expect(try await InboundSourcesAdminTests.request(one, .delete, "/v1/inbound/sources/relay").0 == .noContent)
            #expect(try await eventually(timeout: .seconds(1)) { try await accepted(rotated) == .notFound }, "removed on the other within 1 s")
        }
    }

    @Test func aShadowRunStartedOnOneEvaluatesOnBoth() async throws {
        try await Self.run { h, one, two in
            try await PolicyPreviewTests.standardAccounts(one, h)
            let admin = EventsHarness.admin
            let stricter = try await PolicyPreviewTests.publish(one, try P.stricterCreditPolicy(), key: admin)
            let (status, _) = try await P.send(one, .post, "/v1/policies/credit_thresholds/versions/\(stricter)/shadow", key: admin)
            #expect(status == .ok)
            // Decided through the other instance: 25.00 is approved live, reviewed by the candidate.
            #expect(try await eventually(timeout: .seconds(2)) {
                let (decided, _, _) = try await h.post(two, validEnvelope("credit.requested", account: "acct_a", payload: ["amount_minor": 2500]))
                let (_, report) = try await P.send(two, .get, "/v1/policies/credit_thresholds/shadow-report", key: admin)
                return decided == .created && report["outcome_changes"] != .int(0)
            })
        }
    }

    @Test func jobsStartedOnOneAreFollowedAndDownloadedOnTheOther() async throws {
        try await Self.run(backtestInlineEvents: 0, exportInlineWait: .zero) { h, one, two in
            try await PolicyPreviewTests.standardAccounts(one, h)
            let admin = EventsHarness.admin
            let from = Timestamp.format(Date().addingTimeInterval(-60))
            for (account, amount) in [("acct_a", 500), ("acct_b", 2500), ("acct_c", 4000)] {
                _ = try await PolicyPreviewTests.credit(one, h, account: account, amount: Int64(amount))
            }
            let to = Timestamp.format(Date().addingTimeInterval(60))
            let stricter = try await PolicyPreviewTests.publish(one, try P.stricterCreditPolicy(), key: admin)
            let (status, started) = try await P.send(one, .post, "/v1/policies/credit_thresholds/versions/\(stricter)/backtest",
                                                     key: admin, body: "{\"from\": \"\(from)\", \"to\": \"\(to)\"}")
            #expect(status == .accepted, "\(started)")
            let job = try #require(started["id"]?.stringValue)
            var report = JSONValue.null
            #expect(try await eventually {
                report = try await P.send(two, .get, "/v1/policies/credit_thresholds/backtests/\(job)", key: admin).1
                return report["status"] == "done"
            }, "\(report)")
            #expect(report["report"]?["transitions"] == ["approve→review": 2])

            let (exported, created) = try await P.send(one, .post, "/v1/exports", key: admin,
                                                       body: #"{"kind": "audit", "from": "\#(from)", "to": "\#(to)", "format": "jsonl"}"#)
            #expect(exported == .accepted || exported == .created, "\(created)")
            let id = try #require(created["id"]?.stringValue)
            var manifest = JSONValue.null
            #expect(try await eventually {
                let (code, body) = try await P.send(two, .get, "/v1/exports/\(id)/manifest", key: admin)
                manifest = body
                return code == .ok
            }, "\(manifest)")
            let file = try await two.execute(uri: "/v1/exports/\(id)/file", method: .get, headers: [.authorization: "Bearer \(admin)"]) {
                ($0.status, String(buffer: $0.body))
            }
            #expect(file.0 == .ok)
            #expect(file.1.split(separator: "\n").count == Int(manifest["rows"]?.intValue ?? -1), "\(manifest)")
        }
    }

    @Test func aReviewerSignedInThroughOneStaysSignedInThroughTheOther() async throws {
        try await Self.run { h, one, two in
            let session = try await ConsoleTests.signIn(one, key: h.reviewer)
            let page = try await ConsoleTests.request(two, .get, "/console/queues", cookies: [ConsoleCookie.session: session])
            #expect(page.status == .ok, "signed in through the other instance")
            let form = try #require(ConsoleTests.csrf(page.body))
            let out = try await ConsoleTests.request(two, .post, "/console/sign-out", cookies: [ConsoleCookie.session: session],
                                                     form: ["csrf": form])
            #expect(out.status == .seeOther)
            let after = try await ConsoleTests.request(one, .get, "/console/queues", cookies: [ConsoleCookie.session: session])
            #expect(after.status == .seeOther, "signed out everywhere")
        }
    }
}
