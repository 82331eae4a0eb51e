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
        let existing = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: directory).appendingPathComponent("sources.json")))
        var sources: [JSONValue] = (existing["sources"]?.arrayValue ?? []) + [
            ["name": "chargebee", "kind": "mapped", "mapping": "mappings/chargebee.lua", "verifier": ["type": "basic"],
             "message_id": ["field": "id"], "type_field": "event_type",
             "secrets": [["value": .string(chargebeeAuth)], ["value": .string(previousAuth)]]],
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
            #expect(message["vendor_type"] == "payment_failed")
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
            "\(error)".contains("sources[2].mapping") && "\(error)".contains("fails its tests")
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

/// Mapping versions through the API: published only compiled and tested, tried over stored
/// messages, made live without a restart, dead letters replayed under the new version; audited.
@Suite(.timeLimit(.minutes(5))) struct MappingVersionTests {
    static func send(_ client: some TestClientProtocol, _ path: String, _ body: JSONValue, key: String = EventsHarness.admin)
        async throws -> (HTTPResponse.Status, JSONValue) {
        try await client.execute(uri: path, method: .post, headers: [.authorization: "Bearer \(key)", .contentType: "application/json"],
                                 body: ByteBuffer(bytes: CanonicalJSON.encode(body))) {
            ($0.status, (try? JSONValue.parse(Data(String(buffer: $0.body).utf8))) ?? .null)
        }
    }

    @Test func aNewVersionIsTestedTriedActivatedAndReplaysDeadLetters() async throws {
        try await EventsHarness.run(policies: try InboundMappedTests.policies()) { client, h in
            try await h.syncAccount(client, "acct_cb", ["status": "active", "currency": "USD", "external_refs": ["chargebee": "cb_cust_42"]])
            let shipped = try String(contentsOf: repositoryRoot.appendingPathComponent("Policies/mappings/chargebee.lua"), encoding: .utf8)
            let tests = try JSONValue.parse(Data(contentsOf: repositoryRoot.appendingPathComponent("Policies/mappings/tests/chargebee.json")))
            let auth = InboundMappedTests.basic(InboundMappedTests.chargebeeAuth)

            // Live: the file's version. A payment_failed without its invoice is a dead letter under it.
            let (_, listed) = try await h.get(client, "/v1/inbound/sources", key: EventsHarness.admin)
            let fileVersion = try #require(listed["sources"]?.arrayValue?.first { $0["name"] == "chargebee" }?["mapping"]?["version"]?.stringValue)
            let (_, ok, _) = try await InboundMappedTests.post(client, "chargebee", InboundMappedTests.paymentFailed("ev_v1"), headers: auth)
            #expect(ok["status"] == "processed")
            let orphan: JSONValue = ["id": "ev_orphan", "occurred_at": 1_733_356_800, "event_type": "payment_failed",
                                     "content": ["transaction": ["id": "txn_9", "customer_id": "cb_cust_42", "amount": 2500,
                                                                 "currency_code": "USD", "error_code": "expired_card"]]]
            let (_, dead, _) = try await InboundMappedTests.post(client, "chargebee", orphan, headers: auth)
            #expect(dead["status"] == "failed", "\(dead)")

            // Version 2 maps a failed transaction without an invoice, and prefixes failure codes.
            let v2 = shipped
                .replacingOccurrences(of: "if not present(invoice) then return reject(\"payment_failed without content.invoice\") end",
                                      with: """
                                        if not present(invoice) then
                                          if not present(transaction) or not present(transaction.customer_id) then
                                            return reject("payment_failed without content.invoice")
                                          end
                                          invoice = { id = transaction.id, customer_id = transaction.customer_id, amount_due = transaction.amount,
                                                      currency_code = transaction.currency_code }
                                        end
                                        """)
                .replacingOccurrences(of: "code = transaction.error_code", with: "code = \"cb:\" .. transaction.error_code")
            #expect(v2 != shipped)
            // Its tests must pass: the shipped ones expect the old failure code.
            let (refused, problem) = try await Self.send(client, "/v1/inbound/sources/chargebee/mappings", ["script": .string(v2), "tests": tests])
            #expect(refused == .unprocessableContent)
            #expect(problem["errors"]?.arrayValue?.first?["field"]?.stringValue?.hasPrefix("tests.cases[0]") == true, "\(problem)")
            let (syntax, broken) = try await Self.send(client, "/v1/inbound/sources/chargebee/mappings",
                                                       ["script": "return { name = 'x', map = function( end }", "tests": tests])
            #expect(syntax == .unprocessableContent)
            #expect(broken["errors"]?.arrayValue?.first?["field"] == "script", "\(broken)")
            let (untested, _) = try await Self.send(client, "/v1/inbound/sources/chargebee/mappings", ["script": .string(v2)])
            #expect(untested == .unprocessableContent, "never live untested")
            let (forbidden, _) = try await Self.send(client, "/v1/inbound/sources/chargebee/mappings", ["script": .string(v2), "tests": tests],
                                                     key: h.submitter)
            #expect(forbidden == .forbidden)

            let fixedTests = try JSONValue.parse(Data(CanonicalJSON.string(tests).replacingOccurrences(of: "\"failure_code\":\"card_declined\"",
                                                                                                                  with: "\"failure_code\":\"cb:card_declined\"").utf8))
            let (created, published) = try await Self.send(client, "/v1/inbound/sources/chargebee/mappings",
                                                           ["script": .string(v2), "tests": fixedTests, "file": "chargebee.lua"])
            #expect(created == .created, "\(published)")
            #expect(published["live"] == false)
            let v2Version = try #require(published["version"]?.stringValue)

            // Tried over what was stored: both messages change (one maps now, one gets a new code).
            let (_, tried) = try await Self.send(client, "/v1/inbound/sources/chargebee/mappings/\(v2Version)/dry-run", ["limit": 100])
            #expect(tried["messages"] == 2, "\(tried)")
            #expect(tried["mapped"] == 2)
            #expect(tried["failed"] == 0)
            #expect(tried["changed"] == 2)
            #expect(tried["live_version"]?.stringValue == fileVersion)
            #expect(tried["changes"]?.arrayValue?.contains { $0["after"]?.stringValue?.contains("cb:card_declined") == true } == true, "\(tried)")
            #expect(try await h.count("SELECT COUNT(*) FROM events") == 1, "a dry run decides nothing")

            // Live without a restart; the dead letter is replayed under it.
            let (activated, live) = try await Self.send(client, "/v1/inbound/sources/chargebee/mappings/\(v2Version)/activate", [:])
            #expect(activated == .ok, "\(live)")
            #expect(live["live"] == true)
            let (_, next, _) = try await InboundMappedTests.post(client, "chargebee", InboundMappedTests.paymentFailed("ev_v2"), headers: auth)
            let nextEvent = try #require(next["events"]?.arrayValue?.first?["event_id"]?.stringValue)
            let (_, stored) = try await h.get(client, "/v1/events/\(nextEvent)")
            #expect(stored["envelope"]?["payload"]?["failure_code"] == "cb:card_declined")
            let (_, replayed) = try await Self.send(client, "/v1/inbound/messages/\(dead["id"]?.stringValue ?? "")/replay", [:])
            #expect(replayed["status"] == "processed", "\(replayed)")

            let (_, versions) = try await h.get(client, "/v1/inbound/sources/chargebee/mappings", key: EventsHarness.admin)
            #expect(versions["versions"]?.arrayValue?.count == 2)
            #expect(versions["versions"]?.arrayValue?.filter { $0["live"] == true }.map { $0["version"] } == [.string(v2Version)])
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'mapping.published' AND subject = 'chargebee'") == 2)
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'mapping.activated' AND actor <> 'system:startup'") == 1)
            let (missing, _) = try await Self.send(client, "/v1/inbound/sources/chargebee/mappings/\(String(repeating: "0", count: 64))/activate", [:])
            #expect(missing == .notFound)
            let (unknown, _) = try await Self.send(client, "/v1/inbound/sources/nosuch/mappings", ["script": .string(v2), "tests": fixedTests])
            #expect(unknown == .notFound)
        }
    }
}
