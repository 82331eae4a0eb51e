import ArbiterApp
import ArbiterCore
import ArbiterServer
import ArbiterSQLite
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// Review queues through the HTTP API: every control the service enforces, and what an
/// approval writes.
@Suite(.timeLimit(.minutes(5))) struct ReviewsTests {
    /// A key created directly in the database: its id (the identity reviews record) and secret.
    static func key(_ h: EventsHarness, _ name: String, _ role: Role, limit: Int64? = nil,
                    limits: [String: Int64]? = nil) async throws -> (id: String, secret: String) {
        let created = try await Keys(store: h.database.keys).create(name: name, role: role,
                                                                    approvalLimits: limits ?? limit.map { ["USD": $0] }, by: "test")
        return (created.key.id, created.secret)
    }

    /// Submits a credit request that policies send to review; returns the review id.
    static func creditForReview(_ client: some TestClientProtocol, _ h: EventsHarness, amount: Int64 = 15000,
                                key: String? = nil) async throws -> String {
        let (status, body, _) = try await h.post(client, validEnvelope("credit.requested", payload: ["amount_minor": .int(amount)]), key: key)
        #expect(status == .created, "\(body)")
        #expect(body["decision"]?["outcome"] == "review", "\(body)")
        return try #require(body["decision"]?["review_id"]?.stringValue)
    }

    static func standardAccount(_ client: some TestClientProtocol, _ h: EventsHarness) async throws {
        try await h.syncAccount(client, "acct_1", ["status": "active", "tier": "standard", "currency": "USD"])
    }

    /// POST /v1/reviews/{id}/{action} with an optional JSON body.
    @discardableResult
    static func command(_ client: some TestClientProtocol, _ h: EventsHarness, _ id: String, _ action: String, key: String,
                        _ body: JSONValue? = nil) async throws -> (HTTPResponse.Status, JSONValue) {
        try await client.execute(uri: "/v1/reviews/\(id)/\(action)", method: .post, headers: h.headers(key),
                                 body: body.map { ByteBuffer(bytes: CanonicalJSON.encode($0)) }) { response in
            (response.status, (try? JSONValue.parse(Data(String(buffer: response.body).utf8))) ?? .null)
        }
    }

    @Test func claimApproveQueuesTheActionsInTheSameTransactionAndAuditsEveryStep() async throws {
        try await EventsHarness.run { client, h in
            try await Self.standardAccount(client, h)
            let id = try await Self.creditForReview(client, h)
            let (_, queues) = try await h.get(client, "/v1/queues", key: h.reviewer)
            let credits = try #require(queues["queues"]?.arrayValue?.first { $0["name"] == "credits" })
            #expect(credits["open"] == .int(1))
            #expect(credits["oldest_age_seconds"]?.intValue != nil)
            let (_, items) = try await h.get(client, "/v1/queues/credits/items?state=open", key: h.reviewer)
            #expect(items["items"]?.arrayValue?.map { $0["id"] } == [.string(id)])

            var (status, item) = try await Self.command(client, h, id, "claim", key: h.reviewer)
            #expect(status == .ok, "\(item)")
            #expect(item["state"] == "claimed")
            #expect(item["claim_expires_at"]?.stringValue != nil)
            (status, item) = try await Self.command(client, h, id, "approve", key: h.reviewer, ["comment": "goodwill for the outage"])
            #expect(status == .ok, "\(item)")
            #expect(item["state"] == "approved")
            #expect(item["approvals_given"] == .int(1))
            #expect(item["queued_actions"]?.arrayValue?.first?["amount_minor"] == .int(15000))
            #expect(item["queued_actions"]?.arrayValue?.first?["status"] == "pending")
            #expect(item["history"]?.arrayValue?.map { $0["action"] } == ["claimed", "approved"])
            #expect(item["history"]?.arrayValue?.last?["comment"] == "goodwill for the outage")
            // The item page has what a reviewer decides on.
            #expect(item["event"]?["envelope"]?["payload"]?["amount_minor"] == .int(15000))
            #expect(item["context"]?["account"]?["tier"] == "standard")
            #expect(item["reasons"]?.arrayValue?.isEmpty == false)
            #expect(item["proposed_actions"]?.arrayValue?.first?["type"] == "credit_memo")
            #expect(item["policies"]?.arrayValue?.first?["name"] == "credit_thresholds")

            #expect(try await h.count("SELECT COUNT(*) FROM outbox_actions WHERE review_id = '\(id)' AND status = 'pending'") == 1)
            let kinds = try await h.database.strings("SELECT kind FROM audit_log WHERE subject = ? ORDER BY seq", [id])
            #expect(kinds == ["review.claimed", "review.approved"])
            let reviewerId = try #require(item["history"]?.arrayValue?.first?["actor"]?.stringValue)
            let actors = try await h.database.strings("SELECT actor FROM audit_log WHERE subject = ? ORDER BY seq", [id])
            #expect(actors.allSatisfy { $0 == reviewerId })
            let data = try await h.database.strings("SELECT data FROM audit_log WHERE subject = ? ORDER BY seq", [id])
            #expect(data.last??.contains("goodwill for the outage") == true)
            #expect(try await h.database.verifyAudit().isIntact)
            // The decision list shows the reviewer's outcome.
            let (_, decisions) = try await h.get(client, "/v1/decisions?outcome=review", key: h.reviewer)
            #expect(decisions["items"]?.arrayValue?.first?["review_state"] == "approved")
        }
    }

    @Test func nobodyReviewsWhatTheySubmitted() async throws {
        try await EventsHarness.run { client, h in
            try await Self.standardAccount(client, h)
            // An admin may submit and review, but never its own request.
            let id = try await Self.creditForReview(client, h, key: EventsHarness.admin)
            for action in ["claim", "approve"] {
                let (status, problem) = try await Self.command(client, h, id, action, key: EventsHarness.admin)
                #expect(status == .forbidden)
                #expect(problem["detail"]?.stringValue?.contains("submitted this request") == true, "\(problem)")
            }
            let (status, problem) = try await Self.command(client, h, id, "reject", key: EventsHarness.admin, ["comment": "no"])
            #expect(status == .forbidden, "\(problem)")
            // A submitter key cannot use review routes at all.
            let (submitterStatus, _) = try await Self.command(client, h, id, "claim", key: h.submitter)
            #expect(submitterStatus == .forbidden)
            #expect(try await h.count("SELECT COUNT(*) FROM review_history") == 0)
        }
    }

    @Test func approvalLimitCapsTheMoneyAndALowerAmountScalesTheAction() async throws {
        try await EventsHarness.run { client, h in
            try await Self.standardAccount(client, h)
            let junior = try await Self.key(h, "junior", .reviewer, limit: 10000)
            let id = try await Self.creditForReview(client, h, amount: 15000)
            var (status, problem) = try await Self.command(client, h, id, "approve", key: junior.secret)
            #expect(status == .forbidden)
            #expect(problem["detail"]?.stringValue?.contains("over your approval limit of 100.00 USD") == true, "\(problem)")
            (status, problem) = try await Self.command(client, h, id, "approve", key: junior.secret, ["amount_minor": 20000])
            #expect(status == .unprocessableContent)
            #expect(problem["errors"]?.arrayValue?.first?["field"] == "amount_minor", "\(problem)")
            (status, problem) = try await Self.command(client, h, id, "approve", key: junior.secret, ["amount_minor": 0])
            #expect(status == .unprocessableContent)
            #expect(try await h.count("SELECT COUNT(*) FROM outbox_actions") == 0)

            let (approved, item) = try await Self.command(client, h, id, "approve", key: junior.secret,
                                                          ["amount_minor": 9000, "comment": "partial: 90.00 agreed"])
            #expect(approved == .ok, "\(item)")
            #expect(item["state"] == "approved")
            #expect(item["approved_amount_minor"] == .int(9000))
            let payload = try await h.database.string("SELECT payload FROM outbox_actions WHERE review_id = ?", [id])
            let action = try JSONValue.parse(Data(try #require(payload).utf8))
            #expect(action["amount_minor"] == .int(9000))
            #expect(action["proposed_amount_minor"] == .int(15000))
            #expect(action["currency"] == "USD")
        }
    }

    /// A limit holds in its own currency only: a reviewer with a USD limit cannot approve euros.
    @Test func approvalLimitsArePerCurrency() async throws {
        try await EventsHarness.run { client, h in
            try await h.syncAccount(client, "acct_eu", ["status": "active", "tier": "standard", "currency": "EUR"])
            let dollars = try await Self.key(h, "dollar desk", .reviewer, limits: ["USD": 1_000_000])
            let euros = try await Self.key(h, "euro desk", .reviewer, limits: ["EUR": 10_000])
            let (_, body, _) = try await h.post(client, validEnvelope("credit.requested", account: "acct_eu",
                                                                      payload: ["amount_minor": 15000, "currency": "EUR"]))
            let id = try #require(body["decision"]?["review_id"]?.stringValue)
            var (status, problem) = try await Self.command(client, h, id, "approve", key: dollars.secret)
            #expect(status == .forbidden)
            #expect(problem["detail"]?.stringValue?.contains("you have no approval limit in EUR") == true, "\(problem)")
            (status, problem) = try await Self.command(client, h, id, "approve", key: euros.secret)
            #expect(status == .forbidden)
            #expect(problem["detail"]?.stringValue?.contains("over your approval limit of 100.00 EUR") == true, "\(problem)")
            (status, problem) = try await Self.command(client, h, id, "approve", key: euros.secret, ["amount_minor": 10000])
            #expect(status == .ok, "\(problem)")
        }
    }

    /// Approving a lower amount scales every memo down, and never lifts one above what was
    /// proposed for it (a remainder given to the last memo once made 1 unit into 3).
    @Test func aLowerAmountNeverRaisesAnAction() async throws {
        let directory = try temporaryDirectory()
        try """
            return { name = "memos", on = { "credit.requested" }, decide = function(event, ctx)
              local c = event.payload.currency
              return review{ queue = "credits", reasons = { "four memos" }, actions = {
                credit_memo{ amount_minor = 10, currency = c }, credit_memo{ amount_minor = 10, currency = c },
                credit_memo{ amount_minor = 10, currency = c }, credit_memo{ amount_minor = 1, currency = c } } }
            end }
            """.write(to: directory.appendingPathComponent("memos.lua"), atomically: true, encoding: .utf8)
        try await EventsHarness.run(policies: directory.path) { client, h in
            try await Self.standardAccount(client, h)
            let (_, body, _) = try await h.post(client, validEnvelope("credit.requested"))
            let id = try #require(body["decision"]?["review_id"]?.stringValue)
            let (status, item) = try await Self.command(client, h, id, "approve", key: h.reviewer, ["amount_minor": 30])
            #expect(status == .ok, "\(item)")
            let amounts = try await h.database.strings("SELECT amount_minor FROM outbox_actions WHERE review_id = ? ORDER BY id", [id])
                .map { Int64($0 ?? "") ?? -1 }
            #expect(amounts.reduce(0, +) == 30)
            #expect(zip(amounts, [10, 10, 10, 1]).allSatisfy { $0 <= $1 }, "\(amounts)")
        }
    }

    @Test func twoApprovalsNeedTwoDistinctReviewers() async throws {
        try await EventsHarness.run { client, h in
            try await Self.standardAccount(client, h)
            let second = try await Self.key(h, "bo", .reviewer)
            let id = try await Self.creditForReview(client, h, amount: 150000)   // 1,500.00: the policy asks for two
            _ = try await Self.command(client, h, id, "claim", key: h.reviewer)
            var (status, item) = try await Self.command(client, h, id, "approve", key: h.reviewer, ["comment": "ok by me"])
            #expect(status == .ok, "\(item)")
            // The first approval releases the claim and leaves the item open for someone else.
            #expect(item["state"] == "open")
            #expect(item["approvals_required"] == .int(2))
            #expect(item["approvals_given"] == .int(1))
            #expect(item["claimed_by"] == .null)
            #expect(try await h.count("SELECT COUNT(*) FROM outbox_actions") == 0)
            for action in ["claim", "approve"] {
                let (again, problem) = try await Self.command(client, h, id, action, key: h.reviewer)
                #expect(again == .forbidden, "\(action)")
                #expect(problem["detail"]?.stringValue?.contains("already approved") == true)
            }
            (status, item) = try await Self.command(client, h, id, "approve", key: second.secret, ["comment": "second pair of eyes"])
            #expect(status == .ok, "\(item)")
            #expect(item["state"] == "approved")
            #expect(item["approvals"]?.arrayValue?.count == 2)
            #expect(try await h.count("SELECT COUNT(*) FROM outbox_actions WHERE review_id = '\(id)'") == 1)
        }
    }

    @Test func aQueueRuleAsksForTwoApprovalsOverItsThreshold() async throws {
        let reviews = ReviewSettings(queues: ["disputes": QueueSettings(twoApprovalsOverMinor: 4000)])
        try await EventsHarness.run(reviews: reviews) { client, h in
            try await Self.standardAccount(client, h)
            let (_, small, _) = try await h.post(client, validEnvelope("invoice.disputed", payload: ["amount_minor": 3000]))
            let (_, large, _) = try await h.post(client, validEnvelope("invoice.disputed", payload: ["amount_minor": 4900]))
            #expect(small["decision"]?["outcome"] == "review")
            #expect(small["decision"]?["approvals_required"] == .int(1))
            #expect(large["decision"]?["approvals_required"] == .int(2), "\(large)")
            // The queue's default SLA applies, as the policy set 48 hours itself: it wins.
            #expect(large["decision"]?["sla_due_at"]?.stringValue != nil)
        }
    }

    @Test func claimsAreExclusiveAndExpire() async throws {
        // A long claim, made to expire by moving its end into the past: no timing races on a busy machine.
        try await EventsHarness.run(reviews: ReviewSettings(claimSeconds: 600), escalationInterval: .seconds(60)) { client, h in
            try await Self.standardAccount(client, h)
            let other = try await Self.key(h, "bo", .reviewer)
            let id = try await Self.creditForReview(client, h)
            _ = try await Self.command(client, h, id, "claim", key: h.reviewer)
            for (action, body) in [("claim", [:]), ("approve", ["comment": "yes"]), ("reject", ["comment": "no"])] as [(String, JSONValue)] {
                let (status, problem) = try await Self.command(client, h, id, action, key: other.secret, body)
                #expect(status == .conflict, "\(action): \(problem)")
                #expect(problem["detail"]?.stringValue?.contains("claimed by") == true)
            }
            let (release, _) = try await Self.command(client, h, id, "release", key: other.secret)
            #expect(release == .forbidden)
            try await h.database.execute("UPDATE review_items SET claim_expires_at = '2020-01-01T00:00:00.000000Z' WHERE id = ?", [id])
            let (status, item) = try await Self.command(client, h, id, "claim", key: other.secret)
            #expect(status == .ok, "\(item)")
            #expect(item["claimed_by"] == .string(other.id))
        }
    }

    @Test func overdueItemsEscalateAuditedAndVisible() async throws {
        let reviews = ReviewSettings(queues: ["entitlements": QueueSettings(slaSeconds: 1, escalateTo: "leads"),
                                              "leads": QueueSettings(slaSeconds: 3600)])
        try await EventsHarness.run(reviews: reviews, escalationInterval: .milliseconds(100)) { client, h in
            try await h.syncAccount(client, "acct_1", ["status": "active", "tier": "free", "currency": "USD"])
            let (_, body, _) = try await h.post(client, validEnvelope("entitlement.requested"))
            #expect(body["decision"]?["queue"] == "entitlements", "\(body)")
            let id = try #require(body["decision"]?["review_id"]?.stringValue)
            var item = JSONValue.null
            for _ in 0..<40 where item["state"] != "escalated" {
                try await Task.sleep(for: .milliseconds(100))
                item = try await h.get(client, "/v1/reviews/\(id)", key: h.reviewer).1
            }
            #expect(item["state"] == "escalated", "\(item)")
            #expect(item["queue"] == "leads")
            #expect(item["escalated_from"] == "entitlements")
            #expect(item["overdue"] == .bool(true))
            #expect(item["history"]?.arrayValue?.last?["actor"] == "system")
            let (_, queues) = try await h.get(client, "/v1/queues", key: h.reviewer)
            let leads = try #require(queues["queues"]?.arrayValue?.first { $0["name"] == "leads" })
            #expect(leads["overdue"] == .int(1))
            #expect(leads["by_state"]?["escalated"] == .int(1))
            let (_, escalated) = try await h.get(client, "/v1/queues/leads/items?state=escalated", key: h.reviewer)
            #expect(escalated["items"]?.arrayValue?.count == 1)
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'review.escalated' AND subject = '\(id)'") == 1)
            // Escalated once, not again on every sweep: two more rounds of the sweep run first.
            func sweeps() async throws -> Int {
                let text = try await h.metrics(client)
                return text.split(separator: "\n").first { $0.hasPrefix("arbiter_review_sweeps_total ") }
                    .flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
            }
            let seen = try await sweeps()
            #expect(try await eventually { try await sweeps() >= seen + 2 })
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'review.escalated'") == 1)
            var metrics = ""
            #expect(try await eventually {
                metrics = try await h.metrics(client)
                return metrics.contains(#"arbiter_review_queue_overdue_items{queue="leads"} 1"#)
            }, "\(metrics)")
            #expect(metrics.contains(#"arbiter_review_escalations_total{queue="entitlements"} 1"#), "\(metrics)")
            // An escalated item is still worked normally.
            let (status, decided) = try await Self.command(client, h, id, "approve", key: h.reviewer, ["comment": "granted"])
            #expect(status == .ok, "\(decided)")
            #expect(decided["state"] == "approved")
        }
    }

    @Test func decidingTwiceOrRacingGivesOneOutcomeAndA409() async throws {
        try await EventsHarness.run { client, h in
            try await Self.standardAccount(client, h)
            let other = try await Self.key(h, "bo", .reviewer)
            let id = try await Self.creditForReview(client, h)
            let (rejectNoComment, problem) = try await Self.command(client, h, id, "reject", key: h.reviewer, ["comment": "  "])
            #expect(rejectNoComment == .unprocessableContent)
            #expect(problem["errors"]?.arrayValue?.first?["field"] == "comment")
            let (rejected, _) = try await Self.command(client, h, id, "reject", key: h.reviewer, ["comment": "duplicate of case 41"])
            #expect(rejected == .ok)
            let (again, _) = try await Self.command(client, h, id, "approve", key: other.secret)
            #expect(again == .conflict)

            // Two reviewers racing on one unclaimed item: exactly one wins.
            let raced = try await Self.creditForReview(client, h)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for (key, action, body) in [(h.reviewer, "approve", [:]), (other.secret, "reject", ["comment": "no"]),
                                            (other.secret, "approve", [:])] as [(String, String, JSONValue)] {
                    group.addTask { try await Self.command(client, h, raced, action, key: key, body).0 }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .ok }.count == 1, "\(statuses)")
            #expect(statuses.filter { $0 == .conflict || $0 == .forbidden }.count == 2, "\(statuses)")
            #expect(try await h.count("SELECT COUNT(*) FROM review_history WHERE review_id = '\(raced)' AND action IN ('approved', 'rejected')") == 1)
            #expect(try await h.count("SELECT COUNT(*) FROM outbox_actions WHERE review_id = '\(raced)'") <= 1)
        }
    }

    @Test func adminReassignsAndBadInputIsNamed() async throws {
        try await EventsHarness.run { client, h in
            try await Self.standardAccount(client, h)
            let other = try await Self.key(h, "bo", .reviewer)
            let id = try await Self.creditForReview(client, h)
            _ = try await Self.command(client, h, id, "claim", key: h.reviewer)
            let (byReviewer, _) = try await Self.command(client, h, id, "assign", key: other.secret, ["reviewer": .string(other.id)])
            #expect(byReviewer == .forbidden)
            let (badTarget, problem) = try await Self.command(client, h, id, "assign", key: EventsHarness.admin, ["reviewer": "nobody"])
            #expect(badTarget == .unprocessableContent)
            #expect(problem["errors"]?.arrayValue?.first?["field"] == "reviewer")
            let (status, item) = try await Self.command(client, h, id, "assign", key: EventsHarness.admin,
                                                        ["reviewer": .string(other.id), "comment": "Ana is out today"])
            #expect(status == .ok, "\(item)")
            #expect(item["claimed_by"] == .string(other.id))
            #expect(item["history"]?.arrayValue?.last?["assignee"] == .string(other.id))
            let (approve, _) = try await Self.command(client, h, id, "approve", key: other.secret)
            #expect(approve == .ok)

            let (unknownField, fieldProblem) = try await Self.command(client, h, id, "approve", key: h.reviewer, ["amount": 5])
            #expect(unknownField == .unprocessableContent)
            #expect(fieldProblem["errors"]?.arrayValue?.first?["field"] == "amount")
            let (missing, _) = try await Self.command(client, h, "no-such-item", "claim", key: h.reviewer)
            #expect(missing == .notFound)
            let (badState, stateProblem) = try await h.get(client, "/v1/queues/credits/items?state=pending", key: h.reviewer)
            #expect(badState == .unprocessableContent)
            #expect(stateProblem["errors"]?.arrayValue?.first?["field"] == "state")
            let (_, decided) = try await h.get(client, "/v1/queues/credits/items?state=decided", key: h.reviewer)
            #expect(decided["items"]?.arrayValue?.first?["state"] == "approved")
        }
    }

    @Test func metricsShowQueuesAndReviewerOutcomes() async throws {
        try await EventsHarness.run { client, h in
            try await Self.standardAccount(client, h)
            let waiting = try await Self.creditForReview(client, h)
            let decided = try await Self.creditForReview(client, h)
            _ = try await Self.command(client, h, decided, "reject", key: h.reviewer, ["comment": "not covered"])
            var metrics = ""
            #expect(try await eventually {
                metrics = try await h.metrics(client)
                return metrics.contains(#"arbiter_review_queue_depth_items{queue="credits"} 1"#)
            }, "\(metrics)")
            #expect(metrics.contains(#"arbiter_review_decisions_total{outcome="rejected",queue="credits"} 1"#))
            #expect(metrics.contains("arbiter_review_time_to_decision_seconds_count{queue=\"credits\",outcome=\"rejected\"} 1"))
            #expect(metrics.contains("arbiter_review_queue_oldest_age_seconds{queue=\"credits\"}"))
            _ = waiting
        }
    }
}

extension AuditVerification {
    var isIntact: Bool {
        if case .intact = self { return true }
        return false
    }
}

@Suite(.timeLimit(.minutes(5))) struct ReviewAtomicityTests {
    /// The final approval writes the item, its history, the outbox and the audit entry in one
    /// transaction: when any part fails, none of it is stored and the item can still be decided.
    @Test func aFailedApprovalStoresNothingHalfWay() async throws {
        try await EventsHarness.run { client, h in
            try await ReviewsTests.standardAccount(client, h)
            let id = try await ReviewsTests.creditForReview(client, h)
            let (_, item) = try await h.get(client, "/v1/reviews/\(id)", key: h.reviewer)
            let actionId = try #require(item["proposed_actions"]?.arrayValue?.first?["id"]?.stringValue)
            let decisionId = try #require(item["decision_id"]?.stringValue)
            // Something already holds the action's outbox id: the approval's last write fails.
            try await h.database.execute("""
                INSERT INTO outbox_actions (id, decision_id, account_id, correlation_id, type, payload, status, created_at)
                VALUES (?, ?, 'acct_1', 'x', 'credit_memo', '{}', 'cancelled', '2026-01-01T00:00:00.000000Z')
                """, [actionId, decisionId])
            let auditBefore = try await h.count("SELECT COUNT(*) FROM audit_log")
            let (status, problem) = try await ReviewsTests.command(client, h, id, "approve", key: h.reviewer, ["comment": "ok"])
            #expect(status == .internalServerError, "\(problem)")
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log") == auditBefore)
            #expect(try await h.count("SELECT COUNT(*) FROM review_history") == 0)
            let (_, after) = try await h.get(client, "/v1/reviews/\(id)", key: h.reviewer)
            #expect(after["state"] == "open")
            #expect(after["approvals_given"] == .int(0))
            #expect(try await h.database.verifyAudit().isIntact)
            // Once the obstacle is gone the same approval goes through.
            try await h.database.execute("DELETE FROM outbox_actions WHERE id = ?", [actionId])
            let (retried, _) = try await ReviewsTests.command(client, h, id, "approve", key: h.reviewer, ["comment": "ok"])
            #expect(retried == .ok)
        }
    }
}
