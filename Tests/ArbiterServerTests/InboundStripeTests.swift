import ArbiterCore
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
@testable import ArbiterServer

/// Stripe webhooks as Stripe sends them: signed with the endpoint secret
/// (https://docs.stripe.com/webhooks#verify-manually), events shaped as documented
/// (https://docs.stripe.com/api/events/object, /api/invoices/object, /api/subscriptions/object).
/// Signatures here are computed by the test itself.
@Suite(.timeLimit(.minutes(5))) struct InboundStripeTests {
    static let secret = "whsec_test_current_0123456789abcdef"
    static let oldSecret = "whsec_test_previous_fedcba9876543210"

    /// The repository's policies plus a `sources.json` with a test-mode Stripe source whose
    /// secret is being rotated (both accepted).
    static func policies() throws -> String {
        let directory = scratchDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let shipped = repositoryRoot.appendingPathComponent("Policies")
        for name in try FileManager.default.contentsOfDirectory(atPath: shipped.path) where name.hasSuffix(".lua") || name == "queues.json" {
            try FileManager.default.copyItem(at: shipped.appendingPathComponent(name), to: URL(fileURLWithPath: directory).appendingPathComponent(name))
        }
        let sources: JSONValue = ["sources": [["name": "stripe", "kind": "stripe", "livemode": false,
                                               "secrets": [["value": .string(secret)], ["value": .string(oldSecret)]]],
                                              ["name": "zendesk", "kind": "zendesk",
                                               "secrets": [["value": .string(InboundZendeskTests.secret)]]]]]
        try Data(CanonicalJSON.encode(sources)).write(to: URL(fileURLWithPath: directory).appendingPathComponent("sources.json"))
        return directory
    }

    static func run(_ body: @Sendable (any TestClientProtocol, EventsHarness) async throws -> Void) async throws {
        try await EventsHarness.run(policies: try policies(), body)
    }

    /// `t=…,v1=…` as Stripe computes it: HMAC-SHA256 over "t.body", hex.
    static func signature(_ body: [UInt8], secret: String = secret, at: Date = Date()) -> String {
        let t = Int64(at.timeIntervalSince1970)
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(t).".utf8) + body, using: SymmetricKey(data: Array(secret.utf8)))
        return "t=\(t),v1=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    struct Delivery {
        let status: HTTPResponse.Status
        let body: JSONValue
        let replayed: Bool
    }

    static func deliver(_ client: some TestClientProtocol, _ event: JSONValue, source: String = "stripe",
                        signature: ((([UInt8]) -> String?))? = nil) async throws -> Delivery {
        try await deliver(client, raw: CanonicalJSON.encode(event), source: source, signature: signature)
    }

    static func deliver(_ client: some TestClientProtocol, raw: [UInt8], source: String = "stripe",
                        signature: ((([UInt8]) -> String?))? = nil) async throws -> Delivery {
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8", .userAgent: "Stripe/1.0 (+https://stripe.com/docs/webhooks)"]
        if let value = (signature ?? { Self.signature($0) })(raw) { headers[HTTPField.Name("Stripe-Signature")!] = value }
        return try await client.execute(uri: "/v1/inbound/\(source)", method: .post, headers: headers, body: ByteBuffer(bytes: raw)) { response in
            Delivery(status: response.status, body: (try? JSONValue.parse(Data(String(buffer: response.body).utf8))) ?? .null,
                     replayed: response.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
        }
    }

    /// An event envelope as Stripe sends it.
    static func event(_ id: String, _ type: String, _ object: JSONValue, previous: JSONValue? = nil, created: Int64 = Int64(Date().timeIntervalSince1970),
                      apiVersion: String = "2024-06-20", livemode: Bool = false) -> JSONValue {
        var data: [String: JSONValue] = ["object": object]
        if let previous { data["previous_attributes"] = previous }
        return .object(["id": .string(id), "object": "event", "api_version": .string(apiVersion), "created": .int(created),
                        "data": .object(data), "livemode": .bool(livemode), "pending_webhooks": 1,
                        "request": ["id": "req_8Q1d2Xy", "idempotency_key": .null], "type": .string(type)])
    }

    static func invoice(_ id: String = "in_1MtHbELkdIwHu7ixl4OzzPMv", customer: String = "cus_NffrFeUfNV2Hib", amountDue: Int64 = 4900,
                        amountPaid: Int64 = 0, attempts: Int64 = 1) -> JSONValue {
        ["id": .string(id), "object": "invoice", "account_country": "US", "amount_due": .int(amountDue), "amount_paid": .int(amountPaid),
         "amount_remaining": .int(amountDue - amountPaid), "attempt_count": .int(attempts), "attempted": true, "billing_reason": "subscription_cycle",
         "collection_method": "charge_automatically", "currency": "usd", "customer": .string(customer), "customer_email": "jenny@example.com",
         "livemode": false, "number": "8F2B1C4D-0001", "paid": .bool(amountPaid > 0), "status": .string(amountPaid > 0 ? "paid" : "open"),
         "subscription": "sub_1MowQVLkdIwHu7ixeRlqHVzs", "total": .int(amountDue)]
    }

    static func subscription(customer: String = "cus_NffrFeUfNV2Hib", unitAmount: Int64, lookupKey: String, status: String = "active") -> JSONValue {
        ["id": "sub_1MowQVLkdIwHu7ixeRlqHVzs", "object": "subscription", "customer": .string(customer), "status": .string(status),
         "cancel_at_period_end": false, "currency": "usd", "current_period_start": 1_700_000_000, "current_period_end": 1_702_592_000,
         "items": ["object": "list", "data": [["id": "si_NcLYdDxLHxlFo7", "object": "subscription_item", "quantity": 1,
                                               "price": ["id": "price_1Mr6rdLkdIwHu7ixwPmiybbR", "object": "price", "currency": "usd",
                                                         "unit_amount": .int(unitAmount), "lookup_key": .string(lookupKey),
                                                         "product": "prod_NcLYGKH0eY5b8s",
                                                         "recurring": ["interval": "month", "interval_count": 1]]]]]]
    }

    static func syncStripeCustomer(_ client: some TestClientProtocol, _ h: EventsHarness, account: String = "acct_stripe",
                                   customer: String = "cus_NffrFeUfNV2Hib") async throws {
        try await h.syncAccount(client, account, ["status": "active", "tier": "standard", "currency": "USD", "mrr_minor": 4900,
                                                  "external_refs": ["stripe": .string(customer)]])
    }

    @Test func aFailedInvoicePaymentIsDecidedForTheAccountItsCustomerBelongsTo() async throws {
        try await Self.run { client, h in
            try await Self.syncStripeCustomer(client, h)
            let event = Self.event("evt_1NG8Du2eZvKYlo2CUI79vXWy", "invoice.payment_failed", Self.invoice(attempts: 2))
            let first = try await Self.deliver(client, event)
            #expect(first.status == .ok, "\(first.body)")
            #expect(first.body["status"] == "processed")
            #expect(first.body["account_id"] == "acct_stripe")
            let decided = try #require(first.body["events"]?.arrayValue?.first)
            #expect(decided["outcome"]?.stringValue != nil)
            let eventId = try #require(decided["event_id"]?.stringValue)
            let (_, stored) = try await h.get(client, "/v1/events/\(eventId)")
            #expect(stored["source"] == "stripe")
            #expect(stored["type"] == "payment.failed")
            #expect(stored["account_id"] == "acct_stripe")
            #expect(stored["correlation_id"] == first.body["id"], "the message starts the correlation")
            let payload = stored["envelope"]?["payload"] ?? stored["payload"]
            #expect(payload?["currency"] == "USD")
            #expect(payload?["amount_minor"] == 4900)
            #expect(payload?["attempt"] == 2)
            #expect(payload?["invoice_id"] == "in_1MtHbELkdIwHu7ixl4OzzPMv")

            // Stripe retries (the same event id): the original answer, nothing decided again.
            let again = try await Self.deliver(client, event)
            #expect(again.status == .ok)
            #expect(again.replayed)
            #expect(again.body == first.body)
            #expect(try await h.count("SELECT COUNT(*) FROM events") == 1)
            #expect(try await h.count("SELECT COUNT(*) FROM inbound_messages") == 1)

            // The operator sees the message with its raw body and the signature redacted.
            let (status, message) = try await h.get(client, "/v1/inbound/messages/\(first.body["id"]?.stringValue ?? "")", key: EventsHarness.admin)
            #expect(status == .ok)
            #expect(message["body"]?.stringValue == String(decoding: CanonicalJSON.encode(event), as: UTF8.self))
            let kept = try #require(message["headers"]?["stripe-signature"]?.stringValue)
            #expect(kept.hasPrefix("t=") && kept.contains("v1=[redacted]") && !kept.contains(Self.signature(CanonicalJSON.encode(event)).suffix(20)))
        }
    }

    @Test func signaturesAndTimestampsAreCheckedBeforeAnythingIsStored() async throws {
        try await Self.run { client, h in
            try await Self.syncStripeCustomer(client, h)
            func event(_ n: Int, livemode: Bool = false) -> JSONValue {
                Self.event("evt_sig_\(n)", "invoice.payment_failed", Self.invoice(), livemode: livemode)
            }
            let wrong = try await Self.deliver(client, event(1)) { Self.signature($0, secret: "whsec_wrong") }
            #expect(wrong.status == .unauthorized)
            #expect(wrong.body["detail"]?.stringValue?.contains("no v1 signature matches") == true)
            let expired = try await Self.deliver(client, event(2)) { Self.signature($0, at: Date().addingTimeInterval(-400)) }
            #expect(expired.status == .unauthorized)
            #expect(expired.body["detail"]?.stringValue?.contains("old") == true)
            let future = try await Self.deliver(client, event(3)) { Self.signature($0, at: Date().addingTimeInterval(400)) }
            #expect(future.status == .unauthorized)
            #expect(future.body["detail"]?.stringValue?.contains("future") == true)
            let missing = try await Self.deliver(client, event(4)) { _ in nil }
            #expect(missing.status == .badRequest)
            let noV1 = try await Self.deliver(client, event(5)) { _ in "t=\(Int(Date().timeIntervalSince1970)),v0=abc" }
            #expect(noV1.status == .badRequest)
            let live = try await Self.deliver(client, event(6, livemode: true))
            #expect(live.status == .badRequest)
            #expect(live.body["detail"]?.stringValue?.contains("live-mode") == true)
            // The body changed after signing: the signature no longer matches.
            let tampered = try await Self.deliver(client, raw: CanonicalJSON.encode(event(7))) { _ in
                Self.signature(CanonicalJSON.encode(Self.event("evt_sig_7", "invoice.payment_failed", Self.invoice(amountDue: 1))))
            }
            #expect(tampered.status == .unauthorized)
            let unknown = try await Self.deliver(client, event(8), source: "chargebee")
            #expect(unknown.status == .notFound)
            #expect(try await h.count("SELECT COUNT(*) FROM inbound_messages") == 0)
            #expect(try await h.count("SELECT COUNT(*) FROM events") == 0)

            // Several v1 signatures (Stripe sends one per secret while one is rolled): one matching is enough;
            // the previous secret still works during a rotation.
            let several = try await Self.deliver(client, event(9)) { body in
                Self.signature(body, secret: "whsec_other") + "," + Self.signature(body).split(separator: ",")[1]
            }
            #expect(several.status == .ok, "\(several.body)")
            let rotated = try await Self.deliver(client, event(10)) { Self.signature($0, secret: Self.oldSecret) }
            #expect(rotated.status == .ok, "\(rotated.body)")

            // Operators see what was refused, newest first, with the reason and no secret.
            let (status, failures) = try await h.get(client, "/v1/inbound/failures", key: EventsHarness.admin)
            #expect(status == .ok)
            let reasons = failures["failures"]?.arrayValue?.compactMap { $0["reason"]?.stringValue } ?? []
            #expect(reasons.count == 7, "\(reasons)")
            #expect(!reasons.joined().contains(Self.secret))
            // The operator routes are not sources: a POST there is 405 naming what they allow.
            try await client.execute(uri: "/v1/inbound/messages", method: .post, headers: h.headers(EventsHarness.admin)) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET")
            }
            let (forbidden, _) = try await h.get(client, "/v1/inbound/failures")
            #expect(forbidden == .forbidden, "a submitter key does not read the inbox")
        }
    }

    @Test func anUnknownCustomerWaitsUnmatchedUntilItsAccountIsSyncedThenIsReplayed() async throws {
        try await Self.run { client, h in
            let event = Self.event("evt_unmatched_1", "invoice.payment_failed", Self.invoice(customer: "cus_Unknown01"))
            let first = try await Self.deliver(client, event)
            #expect(first.status == .ok, "a vendor is not made to retry what only we can fix")
            #expect(first.body["status"] == "unmatched")
            #expect(first.body["detail"]?.stringValue?.contains("cus_Unknown01") == true)
            let id = try #require(first.body["id"]?.stringValue)
            let (_, listed) = try await h.get(client, "/v1/inbound/messages?source=stripe&status=unmatched", key: EventsHarness.admin)
            #expect(listed["messages"]?.arrayValue?.map { $0["id"] } == [.string(id)])

            func replay() async throws -> (HTTPResponse.Status, JSONValue) {
                try await client.execute(uri: "/v1/inbound/messages/\(id)/replay", method: .post, headers: h.headers(EventsHarness.admin)) {
                    ($0.status, (try? JSONValue.parse(Data(String(buffer: $0.body).utf8))) ?? .null)
                }
            }
            let (stillStatus, still) = try await replay()
            #expect(stillStatus == .ok)
            #expect(still["status"] == "unmatched", "never guessed")
            #expect(try await h.count("SELECT COUNT(*) FROM events") == 0)

            try await Self.syncStripeCustomer(client, h, account: "acct_late", customer: "cus_Unknown01")
            let (doneStatus, done) = try await replay()
            #expect(doneStatus == .ok)
            #expect(done["status"] == "processed", "\(done)")
            #expect(done["account_id"] == "acct_late")
            #expect(done["attempts"] == 3)
            #expect(try await h.count("SELECT COUNT(*) FROM events WHERE account_id = 'acct_late'") == 1)
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'inbound.replayed'") == 2)
            let (again, problem) = try await replay()
            #expect(again == .conflict, "\(problem)")
            // A retry from Stripe now gets the processed answer.
            let retry = try await Self.deliver(client, event)
            #expect(retry.replayed && retry.body["status"] == "processed")
        }
    }

    @Test func subscriptionUpdatesApplyInOrderAndAnOlderOneIsIgnored() async throws {
        try await Self.run { client, h in
            try await Self.syncStripeCustomer(client, h)
            let now = Int64(Date().timeIntervalSince1970)
            let upgrade = Self.event("evt_sub_2", "customer.subscription.updated", Self.subscription(unitAmount: 9900, lookupKey: "pro"),
                                     previous: ["items": ["object": "list", "data": [["price": ["currency": "usd", "unit_amount": 4900,
                                                                                                "recurring": ["interval": "month"]]]]]],
                                     created: now)
            let older = Self.event("evt_sub_1", "customer.subscription.updated", Self.subscription(unitAmount: 4900, lookupKey: "standard"),
                                   previous: ["cancel_at_period_end": true], created: now - 60)
            let first = try await Self.deliver(client, upgrade)
            #expect(first.body["status"] == "processed", "\(first.body)")
            let eventId = try #require(first.body["events"]?.arrayValue?.first?["event_id"]?.stringValue)
            let (_, stored) = try await h.get(client, "/v1/events/\(eventId)")
            let payload = stored["envelope"]?["payload"] ?? stored["payload"]
            #expect(payload?["change"] == "upgrade")
            #expect(payload?["tier"] == "pro")
            #expect(payload?["mrr_minor"] == 9900)
            #expect(payload?["currency"] == "USD")
            let late = try await Self.deliver(client, older)
            #expect(late.status == .ok)
            #expect(late.body["status"] == "ignored", "\(late.body)")
            #expect(try await h.count("SELECT COUNT(*) FROM events WHERE type = 'subscription.changed'") == 1)
            let cancelled = try await Self.deliver(client, Self.event("evt_sub_3", "customer.subscription.deleted",
                                                                      Self.subscription(unitAmount: 9900, lookupKey: "pro", status: "canceled"),
                                                                      created: now + 60))
            #expect(cancelled.body["status"] == "processed")
            // A type Arbiter does not act on is accepted and recorded as ignored.
            let other = try await Self.deliver(client, Self.event("evt_other_1", "customer.created", ["id": "cus_x", "object": "customer"]))
            #expect(other.status == .ok && other.body["status"] == "ignored")
        }
    }

    @Test func paidAndPaymentSucceededForOneInvoiceDecideOnce() async throws {
        try await Self.run { client, h in
            try await Self.syncStripeCustomer(client, h)
            let invoice = Self.invoice(amountDue: 4900, amountPaid: 4900)
            let paid = try await Self.deliver(client, Self.event("evt_paid_1", "invoice.paid", invoice))
            let succeeded = try await Self.deliver(client, Self.event("evt_paid_2", "invoice.payment_succeeded", invoice))
            #expect(paid.body["status"] == "processed" && succeeded.body["status"] == "processed")
            #expect(succeeded.body["events"]?.arrayValue?.first?["already_recorded"] == true, "\(succeeded.body)")
            #expect(try await h.count("SELECT COUNT(*) FROM events WHERE type = 'payment.succeeded'") == 1)
        }
    }

    /// A charge as documented (https://docs.stripe.com/api/charges/object), with its refunds so far.
    static func charge(_ id: String = "ch_3MmlLrLkdIwHu7ix0snN0B15", customer: String? = "cus_NffrFeUfNV2Hib", amount: Int64 = 10_000,
                       refunded total: Int64, invoice: String? = "in_1MtHbELkdIwHu7ixl4OzzPMv") -> JSONValue {
        ["id": .string(id), "object": "charge", "amount": .int(amount), "amount_captured": .int(amount), "amount_refunded": .int(total),
         "captured": true, "currency": "usd", "customer": customer.map(JSONValue.string) ?? .null,
         "invoice": invoice.map(JSONValue.string) ?? .null, "livemode": false, "paid": true,
         "payment_intent": "pi_3MmlLrLkdIwHu7ix0uke3Ezy", "refunded": .bool(total == amount), "status": "succeeded"]
    }

    @Test func partialRefundsAreDecidedForWhatEachAddsInWhateverOrderTheyCome() async throws {
        try await Self.run { client, h in
            try await Self.syncStripeCustomer(client, h)
            func payload(_ delivery: Delivery) async throws -> JSONValue? {
                let eventId = try #require(delivery.body["events"]?.arrayValue?.first?["event_id"]?.stringValue, "\(delivery.body)")
                let (_, stored) = try await h.get(client, "/v1/events/\(eventId)")
                return stored["envelope"]?["payload"]
            }
            // 25.00 refunded, then 15.00 more (amount_refunded is the running total: 40.00).
            let first = try await Self.deliver(client, Self.event("evt_refund_1", "charge.refunded", Self.charge(refunded: 2500),
                                                                  previous: ["amount_refunded": 0, "refunded": false]))
            #expect(first.body["status"] == "processed", "\(first.body)")
            let one = try await payload(first)
            #expect(one?["amount_minor"] == 2500)
            #expect(one?["refunded_total_minor"] == 2500)
            #expect(one?["payment_id"] == "ch_3MmlLrLkdIwHu7ix0snN0B15")
            #expect(one?["invoice_id"] == "in_1MtHbELkdIwHu7ixl4OzzPMv")
            #expect(one?["currency"] == "USD")
            // The third refund's notice overtakes the second's: it counts both (60.00 − 25.00);
            // the second, arriving last, adds nothing and is recorded as ignored.
            let third = try await Self.deliver(client, Self.event("evt_refund_3", "charge.refunded", Self.charge(refunded: 6000)))
            #expect(try await payload(third)?["amount_minor"] == 3500)
            let second = try await Self.deliver(client, Self.event("evt_refund_2", "charge.refunded", Self.charge(refunded: 4000)))
            #expect(second.status == .ok)
            #expect(second.body["status"] == "ignored", "\(second.body)")
            #expect(second.body["detail"]?.stringValue?.contains("adds nothing") == true)
            #expect(try await h.count("SELECT SUM(amount_minor) FROM events WHERE type = 'payment.refunded'") == 6000,
                    "every cent refunded counted once")
            // A signal: recorded, the account unchanged.
            #expect(first.body["events"]?.arrayValue?.first?["outcome"] == "recorded")
            let (_, account) = try await h.get(client, "/v1/accounts/acct_stripe")
            #expect(account["account"]?["status"] == "active")
            // A charge without a customer tells no account anything.
            let guest = try await Self.deliver(client, Self.event("evt_refund_guest", "charge.refunded",
                                                                  Self.charge("ch_guest", customer: nil, refunded: 100)))
            #expect(guest.body["status"] == "ignored", "\(guest.body)")
        }
    }

    /// A dispute as documented (https://docs.stripe.com/api/disputes/object): it names its charge, not the customer.
    static func dispute(charge: String = "ch_3MmlLrLkdIwHu7ix0snN0B15", amount: Int64 = 1800) -> JSONValue {
        ["id": "du_1MtJUT2eZvKYlo2CNaw2HvEv", "object": "dispute", "amount": .int(amount), "charge": .string(charge), "currency": "usd",
         "created": 1_680_651_737, "evidence_details": ["due_by": 1_682_294_399, "has_evidence": false, "past_due": false, "submission_count": 0],
         "is_charge_refundable": true, "livemode": false, "payment_intent": "pi_3MmlLrLkdIwHu7ix0uke3Ezy", "reason": "product_not_received",
         "status": "needs_response"]
    }

    @Test func aDisputeFindsItsAccountThroughTheChargeAnEarlierMessageNamed() async throws {
        try await Self.run { client, h in
            try await Self.syncStripeCustomer(client, h)
            // Nothing said yet whose charge this is: kept unmatched, never guessed.
            let early = try await Self.deliver(client, Self.event("evt_dispute_1", "charge.dispute.created", Self.dispute()))
            #expect(early.status == .ok)
            #expect(early.body["status"] == "unmatched", "\(early.body)")
            #expect(early.body["detail"]?.stringValue?.contains("ch_3MmlLrLkdIwHu7ix0snN0B15") == true)
            // A message about the charge (here its successful payment) names the customer and the invoice.
            let charged = try await Self.deliver(client, Self.event("evt_charge_ok", "charge.succeeded", Self.charge(refunded: 0)))
            #expect(charged.body["status"] == "ignored")
            let id = try #require(early.body["id"]?.stringValue)
            let replayed = try await client.execute(uri: "/v1/inbound/messages/\(id)/replay", method: .post, headers: h.headers(EventsHarness.admin)) {
                (try? JSONValue.parse(Data(String(buffer: $0.body).utf8))) ?? .null
            }
            #expect(replayed["status"] == "processed", "\(replayed)")
            #expect(replayed["account_id"] == "acct_stripe")
            let eventId = try #require(replayed["events"]?.arrayValue?.first?["event_id"]?.stringValue)
            let (_, stored) = try await h.get(client, "/v1/events/\(eventId)")
            #expect(stored["type"] == "invoice.disputed")
            let payload = stored["envelope"]?["payload"]
            #expect(payload?["invoice_id"] == "in_1MtHbELkdIwHu7ixl4OzzPMv", "the charge's invoice")
            #expect(payload?["amount_minor"] == 1800)
            #expect(payload?["reason"]?.stringValue?.contains("product_not_received") == true)
            // A dispute of a charge Arbiter learned from an invoice (before basil, invoices name their charge).
            try await Self.syncStripeCustomer(client, h, account: "acct_other", customer: "cus_Other")
            var invoice = Self.invoice("in_other", customer: "cus_Other", amountDue: 900, amountPaid: 900).objectValue ?? [:]
            invoice["charge"] = "ch_other"
            _ = try await Self.deliver(client, Self.event("evt_paid_other", "invoice.paid", .object(invoice)))
            var second = Self.dispute(charge: "ch_other", amount: 900).objectValue ?? [:]
            second["id"] = "du_other"
            let direct = try await Self.deliver(client, Self.event("evt_dispute_2", "charge.dispute.created", .object(second)))
            #expect(direct.body["status"] == "processed", "\(direct.body)")
            #expect(direct.body["account_id"] == "acct_other")
        }
    }

    @Test func badBodiesAreDeadLettersOrRefusedAndNeverDecided() async throws {
        try await Self.run { client, h in
            let notJSON = try await Self.deliver(client, raw: Array("payment failed!".utf8))
            #expect(notJSON.status == .ok)
            #expect(notJSON.body["status"] == "failed")
            #expect(notJSON.body["detail"]?.stringValue?.contains("not a JSON object") == true)
            let noCustomer = try await Self.deliver(client, Self.event("evt_bad_1", "invoice.payment_failed", ["id": "in_1", "object": "invoice",
                                                                                                               "currency": "usd", "amount_due": 10]))
            #expect(noCustomer.body["status"] == "failed")
            #expect(noCustomer.body["detail"]?.stringValue?.contains("no customer") == true)
            let huge = Array(#"{"id":"evt_big","pad":""#.utf8) + Array(repeating: UInt8(ascii: "a"), count: 1 << 20) + Array(#""}"#.utf8)
            let tooLarge = try await Self.deliver(client, raw: huge)
            #expect(tooLarge.status == .contentTooLarge)
            #expect(try await h.count("SELECT COUNT(*) FROM events") == 0)
            #expect(try await h.count("SELECT COUNT(*) FROM inbound_messages") == 2)
        }
    }

    @Test func externalRefsBelongToOneAccount() async throws {
        try await Self.run { client, h in
            try await Self.syncStripeCustomer(client, h, account: "acct_a", customer: "cus_Shared")
            let (_, read) = try await h.get(client, "/v1/accounts/acct_a")
            #expect(read["account"]?["external_refs"] == ["stripe": "cus_Shared"])
            func put(_ account: String, _ body: JSONValue) async throws -> (HTTPResponse.Status, JSONValue) {
                try await client.execute(uri: "/v1/accounts/\(account)", method: .put, headers: h.headers(h.sync),
                                         body: ByteBuffer(bytes: CanonicalJSON.encode(body))) {
                    ($0.status, (try? JSONValue.parse(Data(String(buffer: $0.body).utf8))) ?? .null)
                }
            }
            let (conflict, problem) = try await put("acct_b", ["status": "active", "external_refs": ["stripe": "cus_Shared"]])
            #expect(conflict == .conflict)
            #expect(problem["detail"]?.stringValue?.contains("acct_a") == true)
            #expect(try await h.count("SELECT COUNT(*) FROM accounts WHERE id = 'acct_b'") == 0, "nothing stored half-way")
            let (invalid, errors) = try await put("acct_b", ["status": "active", "external_refs": ["Stripe Id": "x", "zendesk_org": ""]])
            #expect(invalid == .unprocessableContent)
            #expect(errors["errors"]?.arrayValue?.count == 2)
            // Leaving external_refs out keeps them; an empty object removes them.
            #expect(try await put("acct_a", ["status": "past_due"]).1["account"]?["external_refs"] == ["stripe": "cus_Shared"])
            #expect(try await put("acct_a", ["status": "past_due", "external_refs": [:]]).1["account"]?["external_refs"] == [:])
            #expect(try await put("acct_b", ["status": "active", "external_refs": ["stripe": "cus_Shared"]]).0 == .ok)
        }
    }
}
