import ArbiterApp
import ArbiterCore
import ArbiterERP
import AsyncHTTPClient
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import Testing
@testable import ArbiterServer

/// Scripts/zendesk-standin.py, the stand-in Zendesk API (tests and integrators' dry runs).
final class ZendeskStandIn: Sendable {
    static let email = "arbiter@example.com"
    static let token = "zd-api-token-0123456789"
    let server: StandIn
    var url: String { server.url }

    init() async throws {
        server = try await StandIn("zendesk-standin.py", ["--email", Self.email, "--token", Self.token])
    }

    func stop() { server.stop() }

    func call(_ method: HTTPMethod, _ path: String, _ body: JSONValue? = nil) async throws -> JSONValue {
        try await server.call(method, path, body)
    }

    /// A ticket's comments and tags as Zendesk holds them.
    func ticket(_ id: String) async throws -> JSONValue {
        try await call(.GET, "/_control/state")["tickets"]?[id] ?? .null
    }

    func comments(_ id: String) async throws -> [JSONValue] {
        try await ticket(id)["comments"]?.arrayValue ?? []
    }
}

/// Answers back to the requester: a Zendesk ticket's internal note and tags for the decision
/// and later for its review, through the answers outbox (retries, dead letters, audit, one note
/// per answer), never delaying or changing the decision; a mapped source's signed callback.
@Suite(.timeLimit(.minutes(5))) struct AnswersTests {
    /// The test policies with the Zendesk source answering to `desk` with `token`.
    static func policies(desk: ZendeskStandIn, token: String = ZendeskStandIn.token) throws -> String {
        let directory = try InboundStripeTests.policies()
        let sources: JSONValue = ["sources": [
            ["name": "zendesk", "kind": "zendesk", "secrets": [["value": .string(InboundZendeskTests.secret)]],
             "answers": ["url": .string(desk.url), "email": .string(ZendeskStandIn.email), "token": ["value": .string(token)]]],
        ]]
        try Data(CanonicalJSON.encode(sources)).write(to: URL(fileURLWithPath: directory).appendingPathComponent("sources.json"))
        return directory
    }

    static func answers(_ client: some TestClientProtocol, _ h: EventsHarness, status: String? = nil) async throws -> [JSONValue] {
        let query = "target=answers" + (status.map { "&status=\($0)" } ?? "")
        return try await h.get(client, "/v1/actions?\(query)", key: EventsHarness.admin).1["items"]?.arrayValue ?? []
    }

    static let premium: JSONValue = ["status": "active", "tier": "premium", "currency": "USD", "external_refs": ["zendesk_org": "crm-4711"]]

    @Test func theDecisionAndLaterItsReviewAreNotedOnTheTicket() async throws {
        let desk = try await ZendeskStandIn()
        defer { desk.stop() }
        try await EventsHarness.run(policies: try Self.policies(desk: desk), delivery: DeliveryTests.fast) { client, h in
            try await h.syncAccount(client, "acct_4711", Self.premium)
            // 40.00 for a premium account: approved at once.
            let small = try await InboundZendeskTests.deliver(client, InboundZendeskTests.trigger(ticket: "1001", amount: "40.00"))
            #expect(small.status == .ok && small.body["events"]?.arrayValue?.first?["outcome"] == "approve", "\(small.body)")
            #expect(try await eventually { try await desk.comments("1001").count == 1 }, "the decision is noted on the ticket")
            let note = try await desk.comments("1001")[0]
            #expect(note["public"] == false, "an internal note, not a reply to the customer")
            let text = note["body"]?.stringValue ?? ""
            #expect(text.contains("APPROVED") && text.contains("40.00 USD"), "\(text)")
            #expect(text.contains("Reasons:"), "\(text)")
            #expect(try await desk.ticket("1001")["tags"] == ["arbiter", "arbiter_approve"])

            // 300.00: to review; the ticket says so, then says what the reviewer decided.
            let large = try await InboundZendeskTests.deliver(client, InboundZendeskTests.trigger(ticket: "1002", amount: "300.00"))
            #expect(large.body["events"]?.arrayValue?.first?["outcome"] == "review", "\(large.body)")
            #expect(try await eventually { try await desk.comments("1002").count == 1 })
            #expect(try await desk.comments("1002")[0]["body"]?.stringValue?.contains("IN REVIEW") == true)
            let decisionId = try #require(large.body["events"]?.arrayValue?.first?["decision_id"]?.stringValue)
            let reviewId = try #require(try await h.database.strings("SELECT id FROM review_items WHERE decision_id = ?", [decisionId]).first ?? nil)
            let (approved, item) = try await ReviewsTests.command(client, h, reviewId, "approve", key: h.reviewer,
                                                                  ["amount_minor": 25000, "comment": "partial: the outage lasted 5 of 6 hours"])
            #expect(approved == .ok, "\(item)")
            #expect(try await eventually { try await desk.comments("1002").count == 2 }, "the review's outcome is noted too")
            let reviewed = try await desk.comments("1002")[1]["body"]?.stringValue ?? ""
            #expect(reviewed.contains("APPROVED in review for 250.00 USD (300.00 USD requested)"), "\(reviewed)")
            #expect(reviewed.contains("partial: the outage lasted 5 of 6 hours"), "\(reviewed)")
            #expect(try await desk.ticket("1002")["tags"] == ["arbiter", "arbiter_review", "arbiter_review_approved"])

            // In the outbox as answers, delivered with the ticket's audit as reference; audited.
            // (recorded just after Zendesk took the note)
            #expect(try await eventually { try await Self.answers(client, h, status: "delivered").count == 3 })
            let sent = try await Self.answers(client, h, status: "delivered")
            #expect(sent.allSatisfy { $0["target"] == "answers" && $0["type"] == "requester_answer" })
            #expect(sent.allSatisfy { $0["erp_reference"]?.stringValue?.hasPrefix("zendesk ticket 10") == true }, "\(sent)")
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'action.delivered' AND actor = 'answers'") == 3)
            // The approved credits wait for an ERP (none here): answers do not.
            #expect(try await h.count("SELECT COUNT(*) FROM outbox_actions WHERE target = 'erp' AND status = 'pending'") == 2)
        }
    }

    @Test func answersRideOutOutagesAndALostResponseNeverLeavesTwoNotes() async throws {
        let desk = try await ZendeskStandIn()
        defer { desk.stop() }
        try await EventsHarness.run(policies: try Self.policies(desk: desk), delivery: DeliveryTests.fast) { client, h in
            try await h.syncAccount(client, "acct_4711", Self.premium)
            // Zendesk failing twice: the note follows on the third attempt.
            _ = try await desk.call(.POST, "/_control/fail", ["status": 503, "times": 2])
            let first = try await InboundZendeskTests.deliver(client, InboundZendeskTests.trigger(ticket: "2001", amount: "40.00"))
            #expect(first.status == .ok && first.body["events"]?.arrayValue?.first?["outcome"] == "approve")
            #expect(try await eventually { try await Self.answers(client, h, status: "delivered").count == 1 })
            #expect(try await desk.comments("2001").count == 1)
            #expect(try await Self.answers(client, h)[0]["attempts"] == 3, "two failures, then the note")

            // Zendesk down for good: the webhook is answered with its decision all the same (the
            // answer never holds it), the answer ends a dead letter, and a retry once Zendesk is
            // back leaves the note.
            _ = try await desk.call(.POST, "/_control/fail", ["status": 503, "times": 1000])
            let down = try await InboundZendeskTests.deliver(client, InboundZendeskTests.trigger(ticket: "2003", amount: "40.00"))
            #expect(down.status == .ok && down.body["events"]?.arrayValue?.first?["outcome"] == "approve", "\(down.body)")
            #expect(try await eventually { try await Self.answers(client, h, status: "dead").count == 1 })
            _ = try await desk.call(.POST, "/_control/fail", ["status": 503, "times": 0])
            #expect(try await desk.comments("2003").isEmpty)
            let dead = try #require(try await Self.answers(client, h, status: "dead").first?["id"]?.stringValue)
            #expect(try await PoliciesTests.send(client, .post, "/v1/actions/\(dead)/retry", key: EventsHarness.admin).0 == .ok)
            #expect(try await eventually { try await desk.comments("2003").count == 1 })

            // The update is applied but its answer is lost: the next attempt finds the note by
            // its marker instead of leaving a second one.
            _ = try await desk.call(.POST, "/_control/drop", ["times": 1])
            _ = try await InboundZendeskTests.deliver(client, InboundZendeskTests.trigger(ticket: "2002", amount: "40.00"))
            #expect(try await eventually {
                try await Self.answers(client, h, status: "delivered").contains { $0["payload"]?["ticket_id"] == "2002" }
            })
            #expect(try await desk.comments("2002").count == 1, "one note, not two")
            let answer = try await Self.answers(client, h).first { $0["payload"]?["ticket_id"] == "2002" }
            #expect(answer?["erp_reference"]?.stringValue?.contains("comment") == true, "found by its marker: \(answer ?? .null)")
        }
    }

    @Test func aRefusedAnswerWaitsAsADeadLetterHoldsNothingElseAndIsSentOnceTheTokenIsFixed() async throws {
        let desk = try await ZendeskStandIn()
        defer { desk.stop() }
        let erp = try await FakeERP.start()
        defer { Task { await erp.stop() } }
        try await EventsHarness.run(policies: try Self.policies(desk: desk, token: "a-revoked-token"),
                                    erp: .http(url: erp.url, secret: DeliveryTests.secret),
                                    delivery: DeliveryTests.fast) { client, h in
            try await h.syncAccount(client, "acct_4711", Self.premium)
            let answered = try await InboundZendeskTests.deliver(client, InboundZendeskTests.trigger(ticket: "3001", amount: "40.00"))
            #expect(answered.body["events"]?.arrayValue?.first?["outcome"] == "approve")
            #expect(try await eventually { try await Self.answers(client, h, status: "dead").count == 1 })
            let dead = try #require(try await Self.answers(client, h, status: "dead").first)
            #expect(dead["last_error"]?.stringValue?.contains("refused the credentials") == true, "\(dead)")
            #expect(dead["attempts"] == 1, "401 is not retried")
            // The account's ERP action is delivered all the same: another target, another line.
            #expect(try await eventually {
                try await h.get(client, "/v1/actions?target=erp&status=delivered", key: EventsHarness.admin).1["items"]?.arrayValue?.count == 1
            })
            // The token is rotated without a restart and the dead letter retried.
            let (status, _, text) = try await InboundSourcesAdminTests.request(client, .put, "/v1/inbound/sources/zendesk", [
                "kind": "zendesk", "secrets": [["value": .string(InboundZendeskTests.secret)]],
                "answers": ["url": .string(desk.url), "email": .string(ZendeskStandIn.email), "token": ["value": .string(ZendeskStandIn.token)]],
            ])
            #expect(status == .created, "\(text)")
            #expect(!text.contains(ZendeskStandIn.token), "the token is never shown")
            let id = try #require(dead["id"]?.stringValue)
            let (retried, _) = try await PoliciesTests.send(client, .post, "/v1/actions/\(id)/retry", key: EventsHarness.admin)
            #expect(retried == .ok)
            #expect(try await eventually { try await desk.comments("3001").count == 1 })
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'action.dead_lettered'") == 1)
        }
    }

    @Test func aMappedSourceIsAnsweredByASignedCallback() async throws {
        let receiver = try await FakeERP.start()
        defer { Task { await receiver.stop() } }
        let secret = "callback-secret-0123456789"
        let policies = try InboundMappedTests.policies()
        try await EventsHarness.run(policies: policies, delivery: DeliveryTests.fast) { client, h in
            try await h.syncAccount(client, "acct_cb", ["status": "active", "currency": "USD", "external_refs": ["chargebee": "cb_cust_42"]])
            let (status, _, text) = try await InboundSourcesAdminTests.request(client, .put, "/v1/inbound/sources/chargebee", [
                "kind": "mapped", "verifier": ["type": "basic"], "message_id": ["field": "id"], "type_field": "event_type",
                "secrets": [["value": .string(InboundMappedTests.chargebeeAuth)]],
                "answers": ["url": .string(receiver.url), "secret": ["value": .string(secret)]],
            ])
            #expect(status == .created, "\(text)")
            let (posted, message, _) = try await InboundMappedTests.post(client, "chargebee", InboundMappedTests.paymentFailed("ev_cb_cb1"),
                                                                         headers: InboundMappedTests.basic(InboundMappedTests.chargebeeAuth))
            #expect(posted == .ok && message["status"] == "processed", "\(message)")
            #expect(try await eventually { receiver.receipts.count == 1 })
            let request = try #require(receiver.receipts.first)
            #expect(request.key.isEmpty == false)
            let time = try #require(Int(request.signature.split(separator: ",").first?.dropFirst(2) ?? ""))
            #expect(request.signature == HTTPConnector.signature(body: request.body, time: time, secret: secret),
                    "signed with the source's callback secret")
            let body = request.json
            #expect(body["channel"] == "callback" && body["stage"] == "decision" && body["source"] == "chargebee", "\(body)")
            #expect(body["event_type"] == "payment.failed" && body["request_id"] == "ev_cb_cb1", "\(body)")
            #expect(body["answer_id"]?.stringValue == request.key)
        }
    }
}
