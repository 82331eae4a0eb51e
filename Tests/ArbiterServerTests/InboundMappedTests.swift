import ArbiterApp
import ArbiterCore
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
@testable import ArbiterServer

/// Mapped sources through `POST /v1/inbound/{source}`: the shipped Chargebee mapping (HTTP Basic,
/// as Chargebee authenticates webhooks: https://www.chargebee.com/docs/2.0/webhook_settings.html)
/// and CRM account sync (HMAC-SHA256 over the body), and scripts that misbehave. Credentials and
/// signatures are computed here, independently of the code under test.
@Suite(.timeLimit(.minutes(5))) struct InboundMappedTests {
    static let chargebeeAuth = "arbiter:cb-webhook-password-0123"
    static let previousAuth = "arbiter:cb-webhook-password-old"
    static let crmSecret = "crm-relay-secret-abcdef0123456789"

    /// Scratch policies with the shipped mapping scripts and a sources.json naming them (and
    /// `extra` sources, with their scripts).
    static func policies(extra: [(entry: JSONValue, file: String, script: String)] = []) throws -> String {
        let directory = try InboundStripeTests.policies()
        let mappings = URL(fileURLWithPath: directory).appendingPathComponent("mappings")
        try FileManager.default.copyItem(at: repositoryRoot.appendingPathComponent("Policies/mappings"), to: mappings)
        var sources: [JSONValue] = [
            ["name": "chargebee", "kind": "mapped", "mapping": "mappings/chargebee.lua", "verifier": ["type": "basic"],
             "message_id": ["field": "id"], "secrets": [["value": .string(chargebeeAuth)], ["value": .string(previousAuth)]]],
            ["name": "crm", "kind": "mapped", "mapping": "mappings/crm_accounts.lua",
             "verifier": ["type": "hmac", "header": "X-Signature", "algorithm": "sha256", "encoding": "hex", "prefix": "sha256="],
             "secrets": [["value": .string(crmSecret)]]],
        ]
        for (entry, file, script) in extra {
            try script.write(to: mappings.appendingPathComponent(file), atomically: true, encoding: .utf8)
            sources.append(entry)
        }
        try Data(CanonicalJSON.encode(["sources": .array(sources)])).write(to: URL(fileURLWithPath: directory).appendingPathComponent("sources.json"))
        return directory
    }

    static func post(_ client: some TestClientProtocol, _ source: String, _ body: JSONValue, headers extra: HTTPFields = [:])
        async throws -> (HTTPResponse.Status, JSONValue, Bool) {
        var headers: HTTPFields = [.contentType: "application/json"]
        headers.append(contentsOf: extra)
        return try await client.execute(uri: "/v1/inbound/\(source)", method: .post, headers: headers,
                                        body: ByteBuffer(bytes: CanonicalJSON.encode(body))) { response in
            (response.status, (try? JSONValue.parse(Data(String(buffer: response.body).utf8))) ?? .null,
             response.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
        }
    }

    static func basic(_ credentials: String) -> HTTPFields {
        [.authorization: "Basic " + Data(credentials.utf8).base64EncodedString()]
    }

    static func signed(_ body: JSONValue, secret: String = crmSecret) -> HTTPFields {
        let mac = HMAC<SHA256>.authenticationCode(for: CanonicalJSON.encode(body), using: SymmetricKey(data: Array(secret.utf8)))
        return [HTTPField.Name("X-Signature")!: "sha256=" + mac.map { String(format: "%02x", $0) }.joined()]
    }

    static func paymentFailed(_ id: String, customer: String = "cb_cust_42") -> JSONValue {
        ["id": .string(id), "occurred_at": 1_733_356_800, "object": "event", "api_version": "v2", "event_type": "payment_failed",
         "content": ["transaction": ["id": "txn_1", "customer_id": .string(customer), "amount": 4900, "currency_code": "USD",
                                     "status": "failure", "error_code": "card_declined"],
                     "invoice": ["id": "inv_1042", "customer_id": .string(customer), "amount_due": 4900, "currency_code": "USD",
                                 "status": "payment_due", "dunning_attempts": [["attempt": 0]]]]]
    }

    @Test func chargebeeEventsAreAuthenticatedByBasicCredentialsAndMappedByTheShippedScript() async throws {
        try await EventsHarness.run(policies: try Self.policies()) { client, h in
            try await h.syncAccount(client, "acct_cb", ["status": "active", "currency": "USD", "external_refs": ["chargebee": "cb_cust_42"]])
            let event = Self.paymentFailed("ev_cb_1")
            let (missing, _, _) = try await Self.post(client, "chargebee", event)
            #expect(missing == .unauthorized)
            let (wrong, problem, _) = try await Self.post(client, "chargebee", event, headers: Self.basic("arbiter:guess"))
            #expect(wrong == .unauthorized)
            #expect(problem["detail"]?.stringValue?.contains("cb-webhook") != true, "no secret in the answer")
            #expect(try await h.count("SELECT COUNT(*) FROM inbound_messages") == 0)

            let (status, first, _) = try await Self.post(client, "chargebee", event, headers: Self.basic(Self.chargebeeAuth))
            #expect(status == .ok, "\(first)")
            #expect(first["status"] == "processed", "\(first)")
            #expect(first["account_id"] == "acct_cb")
            let eventId = try #require(first["events"]?.arrayValue?.first?["event_id"]?.stringValue)
            let (_, stored) = try await h.get(client, "/v1/events/\(eventId)")
            #expect(stored["type"] == "payment.failed")
            #expect(stored["source"] == "chargebee")
            #expect(stored["envelope"]?["payload"]?["failure_code"] == "card_declined")
            #expect(stored["envelope"]?["occurred_at"] == "2024-12-05T00:00:00.000000Z")
            // Chargebee retries with the same event id: the original answer.
            let (_, again, replayed) = try await Self.post(client, "chargebee", event, headers: Self.basic(Self.chargebeeAuth))
            #expect(replayed && again == first)
            // The previous credentials still work while they are rotated.
            let (rotated, _, _) = try await Self.post(client, "chargebee", Self.paymentFailed("ev_cb_2"), headers: Self.basic(Self.previousAuth))
            #expect(rotated == .ok)
            // The stored message keeps no credentials.
            let (_, message) = try await h.get(client, "/v1/inbound/messages/\(first["id"]?.stringValue ?? "")", key: EventsHarness.admin)
            #expect(message["headers"]?["authorization"] == nil, "\(message)")
            #expect(message["external_id"] == "ev_cb_1")
        }
    }

    @Test func aCRMAccountChangeUpdatesOnlyTheFieldsItNamesAndAnUnknownRecordWaitsForItsAccount() async throws {
        try await EventsHarness.run(policies: try Self.policies()) { client, h in
            try await h.syncAccount(client, "acct_crm_1", ["status": "active", "tier": "standard", "currency": "USD", "mrr_minor": 49900,
                                                          "entitlements": ["api"]])
            let change: JSONValue = ["ChangeEventHeader": ["entityName": "Account", "recordIds": ["0015e00000Abc12AAB"], "changeType": "UPDATE",
                                                           "changedFields": ["Billing_Status__c", "Tier__c"]],
                                     "Arbiter_Account_Id__c": "acct_crm_1", "Billing_Status__c": "Past Due", "Tier__c": "premium"]
            let (bad, _, _) = try await Self.post(client, "crm", change, headers: Self.signed(change, secret: "not-the-secret"))
            #expect(bad == .unauthorized)
            let (status, result, _) = try await Self.post(client, "crm", change, headers: Self.signed(change))
            #expect(status == .ok)
            #expect(result["status"] == "processed", "\(result)")
            #expect(result["detail"]?.stringValue?.contains("acct_crm_1") == true)
            let (_, read) = try await h.get(client, "/v1/accounts/acct_crm_1")
            #expect(read["account"]?["status"] == "past_due")
            #expect(read["account"]?["tier"] == "premium")
            #expect(read["account"]?["mrr_minor"] == 49900, "fields the CRM did not name keep their values")
            #expect(read["account"]?["entitlements"] == ["api"])
            #expect(read["account"]?["external_refs"] == ["salesforce": "0015e00000Abc12AAB"])
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'account.synced' AND actor = 'source:crm'") == 1)

            // A record no account carries yet: unmatched, never guessed; replayed once synced.
            let unknown: JSONValue = ["ChangeEventHeader": ["entityName": "Account", "recordIds": ["001NEW"], "changeType": "UPDATE"],
                                      "Tier__c": "enterprise"]
            let (_, waiting, _) = try await Self.post(client, "crm", unknown, headers: Self.signed(unknown))
            #expect(waiting["status"] == "unmatched", "\(waiting)")
            try await h.syncAccount(client, "acct_new", ["status": "active", "external_refs": ["salesforce": "001NEW"]])
            let replayed = try await client.execute(uri: "/v1/inbound/messages/\(waiting["id"]?.stringValue ?? "")/replay", method: .post,
                                                    headers: h.headers(EventsHarness.admin)) {
                (try? JSONValue.parse(Data(String(buffer: $0.body).utf8))) ?? .null
            }
            #expect(replayed["status"] == "processed", "\(replayed)")
            let (_, synced) = try await h.get(client, "/v1/accounts/acct_new")
            #expect(synced["account"]?["tier"] == "enterprise")

            // A value the sync API refuses fails the message, naming the field; nothing changes.
            let invalid: JSONValue = ["ChangeEventHeader": ["entityName": "Account", "recordIds": ["0015e00000Abc12AAB"], "changeType": "UPDATE"],
                                      "Arbiter_Account_Id__c": "acct_crm_1", "CurrencyIsoCode": "DOLLARS"]
            let (_, failed, _) = try await Self.post(client, "crm", invalid, headers: Self.signed(invalid))
            #expect(failed["status"] == "failed", "\(failed)")
            #expect(failed["detail"]?.stringValue?.contains("currency") == true)
            let (_, unchanged) = try await h.get(client, "/v1/accounts/acct_crm_1")
            #expect(unchanged["account"]?["currency"] == "USD")
        }
    }

    /// Scripts that misbehave: each is stopped by the sandbox or refused, the message is a dead
    /// letter answered 200, nothing is decided, and the source keeps working.
    @Test func aMisbehavingScriptIsStoppedDeadLetteredAndNeverApproves() async throws {
        let secret = "hostile-secret-0123456789"
        func source(_ name: String, _ file: String) -> JSONValue {
            ["name": .string(name), "kind": "mapped", "mapping": .string("mappings/\(file)"),
             "verifier": ["type": "hmac", "header": "X-Signature", "prefix": "sha256="], "secrets": [["value": .string(secret)]]]
        }
        let scripts: [(JSONValue, String, String)] = [
            (source("loops", "loops.lua"), "loops.lua", """
                return { name = "loops", map = function(request)
                  if request.body.ok then return event{ id = request.body.id, type = "credit.requested", account_id = "acct_h",
                    payload = { amount_minor = 100, currency = "USD", reason = "fine" } } end
                  while true do end
                end }
                """),
            (source("approves", "approves.lua"), "approves.lua", """
                return { name = "approves", map = function(request) return approve{ reasons = { "trust me" } } end }
                """),
            (source("escapes", "escapes.lua"), "escapes.lua", """
                return { name = "escapes", map = function(request) return os.execute("touch /tmp/pwned") end }
                """),
            (source("hoards", "hoards.lua"), "hoards.lua", """
                return { name = "hoards", map = function(request)
                  local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 1000) .. i end
                end }
                """),
        ]
        try await EventsHarness.run(policies: try Self.policies(extra: scripts), limits: PolicyLimits(timeLimitMillis: 200)) { client, h in
            for (name, expected) in [("loops", "exceeded"), ("approves", "decision"), ("escapes", "os"), ("hoards", "exceeded")] {
                let body: JSONValue = ["id": .string("m-\(name)")]
                let (status, result, _) = try await Self.post(client, name, body, headers: Self.signed(body, secret: secret))
                #expect(status == .ok, "\(name): \(result)")
                #expect(result["status"] == "failed", "\(name): \(result)")
                #expect(result["detail"]?.stringValue?.contains(expected) == true, "\(name): \(result)")
            }
            #expect(try await h.count("SELECT COUNT(*) FROM events") == 0, "a script's failure never decides")
            #expect(!FileManager.default.fileExists(atPath: "/tmp/pwned"))
            // The looping source's script still serves a request it handles.
            let fine: JSONValue = ["id": "m-fine", "ok": true]
            let (_, after, _) = try await Self.post(client, "loops", fine, headers: Self.signed(fine, secret: secret))
            #expect(after["status"] == "processed", "\(after)")
            let (_, failedList) = try await h.get(client, "/v1/inbound/messages?status=failed", key: EventsHarness.admin)
            #expect(failedList["messages"]?.arrayValue?.count == 4)
        }
    }

    @Test func aMappingWhoseTestsFailIsNotLoaded() async throws {
        let directory = try Self.policies()
        let tests = URL(fileURLWithPath: directory).appendingPathComponent("mappings/tests/chargebee.json")
        let text = try String(contentsOf: tests, encoding: .utf8).replacingOccurrences(of: "\"attempt\": 2", with: "\"attempt\": 3")
        try text.write(to: tests, atomically: true, encoding: .utf8)
        #expect {
            _ = try SourceCatalog.load(URL(fileURLWithPath: directory).appendingPathComponent("sources.json"))
        } throws: { error in
            "\(error)".contains("sources[0].mapping") && "\(error)".contains("fails its tests")
        }
        // The same through the CLI a finance or integration engineer runs.
        let (status, output) = try runArbiter(["source", "test", URL(fileURLWithPath: directory).appendingPathComponent("mappings").path])
        #expect(status != 0)
        #expect(output.contains("FAIL chargebee") && output.contains("attempt"), "\(output)")
        let (shipped, report) = try runArbiter(["source", "test", repositoryRoot.appendingPathComponent("Policies/mappings").path])
        #expect(shipped == 0, "\(report)")
        #expect(report.hasSuffix("0 failed\n"), "\(report)")
    }
}
