import ArbiterCore
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
@testable import ArbiterServer

/// Zendesk trigger webhooks as Zendesk sends them: `X-Zendesk-Webhook-Signature` is base64 of
/// HMAC-SHA256 over `timestamp + body` with the webhook's signing secret, the timestamp in
/// `X-Zendesk-Webhook-Signature-Timestamp` (https://developer.zendesk.com/documentation/webhooks/verifying/).
/// The body is what the trigger in docs/inbound.md produces, placeholders filled in.
@Suite(.timeLimit(.minutes(5))) struct InboundZendeskTests {
    static let secret = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="

    struct Delivery {
        let status: HTTPResponse.Status
        let body: JSONValue
        let replayed: Bool
    }

    static func deliver(_ client: some TestClientProtocol, _ body: JSONValue, invocation: String = UUID().uuidString,
                        secret: String = secret, at: Date = Date()) async throws -> Delivery {
        let raw = CanonicalJSON.encode(body)
        let timestamp = Timestamp.format(at)
        let mac = HMAC<SHA256>.authenticationCode(for: Array(timestamp.utf8) + raw, using: SymmetricKey(data: Array(secret.utf8)))
        let headers: HTTPFields = [.contentType: "application/json", .userAgent: "Zendesk Webhook",
                                   HTTPField.Name("X-Zendesk-Webhook-Signature")!: Data(mac).base64EncodedString(),
                                   HTTPField.Name("X-Zendesk-Webhook-Signature-Timestamp")!: timestamp,
                                   HTTPField.Name("X-Zendesk-Webhook-Id")!: "01GZ8BBXT4JE4YF2P2C1X8XK2A",
                                   HTTPField.Name("X-Zendesk-Webhook-Invocation-Id")!: invocation]
        return try await client.execute(uri: "/v1/inbound/zendesk", method: .post, headers: headers, body: ByteBuffer(bytes: raw)) { response in
            Delivery(status: response.status, body: (try? JSONValue.parse(Data(String(buffer: response.body).utf8))) ?? .null,
                     replayed: response.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
        }
    }

    /// The trigger's body with its placeholders filled in.
    static func trigger(ticket: String = "35436", organization: String = "crm-4711", amount: String = "150.00",
                        currency: String = "USD") -> JSONValue {
        ["ticket_id": .string(ticket), "organization_external_id": .string(organization), "amount": .string(amount),
         "currency": .string(currency), "reason": "Outage on 2026-12-01 (help desk ticket)", "requester": "jenny.rosen@example.com"]
    }

    @Test func aTicketsCreditRequestIsDecidedInMinorUnitsForItsOrganizationsAccount() async throws {
        try await InboundStripeTests.run { client, h in
            try await h.syncAccount(client, "acct_4711", ["status": "active", "currency": "USD", "external_refs": ["zendesk_org": "crm-4711"]])
            let first = try await Self.deliver(client, Self.trigger(), invocation: "inv-1")
            #expect(first.status == .ok, "\(first.body)")
            #expect(first.body["status"] == "processed", "\(first.body)")
            let eventId = try #require(first.body["events"]?.arrayValue?.first?["event_id"]?.stringValue)
            let (_, stored) = try await h.get(client, "/v1/events/\(eventId)")
            #expect(stored["type"] == "credit.requested")
            #expect(stored["account_id"] == "acct_4711")
            let payload = stored["envelope"]?["payload"] ?? stored["payload"]
            #expect(payload?["amount_minor"] == 15000)
            #expect(payload?["currency"] == "USD")
            #expect(payload?["case_id"] == "zendesk:35436")
            let again = try await Self.deliver(client, Self.trigger(), invocation: "inv-1")
            #expect(again.replayed && again.body == first.body)
            #expect(try await h.count("SELECT COUNT(*) FROM events") == 1)

            // Amounts in the currency's own minor unit: JPY has none.
            try await h.syncAccount(client, "acct_jp", ["status": "active", "currency": "JPY", "external_refs": ["zendesk_org": "crm-jp"]])
            let yen = try await Self.deliver(client, Self.trigger(ticket: "900", organization: "crm-jp", amount: "1,500", currency: "JPY"))
            let yenEvent = try #require(yen.body["events"]?.arrayValue?.first?["event_id"]?.stringValue)
            let (_, yenStored) = try await h.get(client, "/v1/events/\(yenEvent)")
            #expect((yenStored["envelope"]?["payload"] ?? yenStored["payload"])?["amount_minor"] == 1500)
        }
    }

    @Test func emptyOrMalformedAmountsAreMappingErrorsNamingTheField() async throws {
        try await InboundStripeTests.run { client, h in
            try await h.syncAccount(client, "acct_4711", ["status": "active", "currency": "USD", "external_refs": ["zendesk_org": "crm-4711"]])
            for (n, amount) in ["", "abc", "150.005", "1,50.00", "-20.00", "0.00"].enumerated() {
                let answer = try await Self.deliver(client, Self.trigger(ticket: "t\(n)", amount: amount))
                #expect(answer.status == .ok, "a vendor never gets a 5xx for our mapping")
                #expect(answer.body["status"] == "failed", "\(amount): \(answer.body)")
                #expect(answer.body["detail"]?.stringValue?.contains("amount") == true, "\(amount): \(answer.body)")
            }
            #expect(try await h.count("SELECT COUNT(*) FROM events") == 0, "never decided, never approved")
            let (_, failed) = try await h.get(client, "/v1/inbound/messages?source=zendesk&status=failed", key: EventsHarness.admin)
            #expect(failed["messages"]?.arrayValue?.count == 6)
        }
    }

    @Test func signaturesAndTimestampsAreChecked() async throws {
        try await InboundStripeTests.run { client, h in
            let wrong = try await Self.deliver(client, Self.trigger(), secret: "not-the-secret")
            #expect(wrong.status == .unauthorized)
            let old = try await Self.deliver(client, Self.trigger(), at: Date().addingTimeInterval(-400))
            #expect(old.status == .unauthorized)
            let future = try await Self.deliver(client, Self.trigger(), at: Date().addingTimeInterval(400))
            #expect(future.status == .unauthorized)
            #expect(try await h.count("SELECT COUNT(*) FROM inbound_messages") == 0)
            let unknownOrg = try await Self.deliver(client, Self.trigger(organization: "crm-unknown"))
            #expect(unknownOrg.body["status"] == "unmatched")
        }
    }
}
