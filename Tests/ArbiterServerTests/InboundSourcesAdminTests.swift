import ArbiterApp
import ArbiterCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
@testable import ArbiterServer

/// Sources added, changed and removed through `PUT/DELETE /v1/inbound/sources/{name}`: live at
/// once without a restart, kept across one, taking the place of `sources.json`'s source of the
/// same name, refused whole when any field is wrong, and never showing a secret.
@Suite(.timeLimit(.minutes(5))) struct InboundSourcesAdminTests {
    static let relaySecret = "relay-secret-0123456789abcdef"

    static func request(_ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ path: String, _ body: JSONValue? = nil,
                        key: String = EventsHarness.admin) async throws -> (HTTPResponse.Status, JSONValue, String) {
        try await client.execute(uri: path, method: method, headers: [.authorization: "Bearer \(key)", .contentType: "application/json"],
                                 body: body.map { ByteBuffer(bytes: CanonicalJSON.encode($0)) }) {
            let text = String(buffer: $0.body)
            return ($0.status, (try? JSONValue.parse(Data(text.utf8))) ?? .null, text)
        }
    }

    /// The CRM relay as an admin defines it through the API: the shipped script and its tests.
    static func relay(secrets: [String], withMapping: Bool = true) throws -> JSONValue {
        var definition: [String: JSONValue] = [
            "kind": "mapped",
            "verifier": ["type": "hmac", "header": "X-Signature", "algorithm": "sha256", "encoding": "hex", "prefix": "sha256="],
            "secrets": .array(secrets.map { ["value": .string($0)] }),
        ]
        if withMapping {
            let mappings = repositoryRoot.appendingPathComponent("Policies/mappings")
            definition["mapping"] = ["script": .string(try String(contentsOf: mappings.appendingPathComponent("crm_accounts.lua"), encoding: .utf8)),
                                     "tests": try JSONValue.parse(Data(contentsOf: mappings.appendingPathComponent("tests/crm_accounts.json")))]
        }
        return .object(definition)
    }

    static let change: JSONValue = ["ChangeEventHeader": ["entityName": "Account", "recordIds": ["001REL"], "changeType": "UPDATE"],
                                    "Arbiter_Account_Id__c": "acct_rel", "Tier__c": "premium"]

    @Test func aSourceAddedThroughTheAPITakesWebhooksAtOnceRotatesItsSecretAndNeverShowsIt() async throws {
        try await EventsHarness.run(policies: try InboundMappedTests.policies()) { client, h in
            try await h.syncAccount(client, "acct_rel", ["status": "active", "tier": "standard"])
            let (unknown, _, _) = try await InboundMappedTests.post(client, "relay", Self.change,
                                                                   headers: InboundMappedTests.signed(Self.change, secret: Self.relaySecret))
            #expect(unknown == .notFound)

            // Only an admin configures sources.
            let operatorKey = try await Keys(store: h.database.keys).create(name: "ops", role: .operator, by: "test").secret
            let (forbidden, _, _) = try await Self.request(client, .put, "/v1/inbound/sources/relay", try Self.relay(secrets: [Self.relaySecret]),
                                                           key: operatorKey)
            #expect(forbidden == .forbidden)

            let (created, source, text) = try await Self.request(client, .put, "/v1/inbound/sources/relay", try Self.relay(secrets: [Self.relaySecret]))
            #expect(created == .created, "\(text)")
            #expect(source["configured_in"] == "api" && source["updated_by"]?.stringValue?.isEmpty == false && source["secrets"] == 1, "\(source)")
            #expect(source["mapping"]?["name"] == "crm_accounts")
            #expect(!text.contains(Self.relaySecret), "the answer never holds a secret")
            let (_, read, readText) = try await Self.request(client, .get, "/v1/inbound/sources/relay", key: operatorKey)
            #expect(read["kind"] == "mapped" && !readText.contains(Self.relaySecret))
            let (_, list, _) = try await Self.request(client, .get, "/v1/inbound/sources")
            #expect(list["sources"]?.arrayValue?.map { $0["name"] } == ["chargebee", "crm", "relay", "stripe", "zendesk"])
            #expect(list["sources"]?.arrayValue?.first { $0["name"] == "crm" }?["configured_in"] == "sources.json")

            // Live at once, no restart.
            let (status, message, _) = try await InboundMappedTests.post(client, "relay", Self.change,
                                                                         headers: InboundMappedTests.signed(Self.change, secret: Self.relaySecret))
            #expect(status == .ok && message["status"] == "processed", "\(message)")
            #expect(try await h.get(client, "/v1/accounts/acct_rel").1["account"]?["tier"] == "premium")

            // Rotation: the new secret and the old one both verify, then only the new one.
            let newSecret = "relay-secret-rotated-fedcba9876"
            let (replaced, _, _) = try await Self.request(client, .put, "/v1/inbound/sources/relay",
                                                          try Self.relay(secrets: [newSecret, Self.relaySecret], withMapping: false))
            #expect(replaced == .ok, "replacing answers 200; without `mapping` the live script stays")
            for (secret, expected) in [(newSecret, HTTPResponse.Status.ok), (Self.relaySecret, .ok)] {
                var body = Self.change
                body = ["ChangeEventHeader": ["entityName": "Account", "recordIds": .array([.string("001REL")]), "changeType": "UPDATE"],
                        "Arbiter_Account_Id__c": "acct_rel", "Tier__c": .string("t-\(secret.count)-\(expected.code)")]
                #expect(try await InboundMappedTests.post(client, "relay", body, headers: InboundMappedTests.signed(body, secret: secret)).0 == expected)
            }
            _ = try await Self.request(client, .put, "/v1/inbound/sources/relay", try Self.relay(secrets: [newSecret], withMapping: false))
            let old: JSONValue = ["ChangeEventHeader": ["entityName": "Account", "recordIds": ["001REL"], "changeType": "UPDATE"],
                                  "Arbiter_Account_Id__c": "acct_rel", "Tier__c": "old"]
            #expect(try await InboundMappedTests.post(client, "relay", old, headers: InboundMappedTests.signed(old, secret: Self.relaySecret)).0
                    == .unauthorized)

            // Audited, without the secret; the database holds it sealed, not as given.
            let audit = try await h.database.strings("SELECT data FROM audit_log WHERE kind = 'source.configured' ORDER BY seq").compactMap { $0 }
            #expect(audit.count == 3 && audit.allSatisfy { !$0.contains("relay-secret") }, "\(audit)")
            #expect(audit.first?.contains("mapping_published") == true)
            let stored = try await h.database.strings("SELECT definition FROM inbound_sources").compactMap { $0 }
            #expect(stored.count == 1 && !(stored.first ?? "").contains(newSecret), "\(stored)")
        }
    }

    @Test func aDefinitionWithAnyFieldWrongIsRefusedWholeNamingTheField() async throws {
        try await EventsHarness.run(policies: try InboundMappedTests.policies()) { client, h in
            var failing = try Self.relay(secrets: [Self.relaySecret]).objectValue ?? [:]
            var mapping = failing["mapping"]?.objectValue ?? [:]
            mapping["tests"] = ["cases": [["name": "wrong on purpose", "request": ["body": Self.change], "expect": ["ignore": "not what it does"]]]]
            failing["mapping"] = .object(mapping)
            let cases: [(String, JSONValue, String)] = [
                ("/v1/inbound/sources/Bad%20Name", try Self.relay(secrets: ["s"]), "name"),
                ("/v1/inbound/sources/relay", ["kind": "paypal", "secrets": [["value": "s"]]], "kind"),
                ("/v1/inbound/sources/relay", ["kind": "stripe", "secrets": []], "secrets"),
                ("/v1/inbound/sources/relay", ["kind": "stripe", "secret": [["value": "s"]], "secrets": [["value": "s"]]], "secret"),
                ("/v1/inbound/sources/relay", ["kind": "stripe", "secrets": [["value": "s"]], "tolerance_s": 0], "tolerance_s"),
                ("/v1/inbound/sources/relay", ["kind": "stripe", "secrets": [["sealed": "AAAA", "wrapping": "none"]]], "secrets[0]"),
                ("/v1/inbound/sources/relay", ["kind": "stripe", "secrets": [["value": "s"]], "mapping": ["script": "return {}"]], "mapping"),
                ("/v1/inbound/sources/relay", ["kind": "mapped", "secrets": [["value": "s"]], "verifier": ["type": "basic"]], "mapping"),
                ("/v1/inbound/sources/relay", ["kind": "mapped", "secrets": [["value": "s"]], "verifier": ["type": "rot13"],
                                               "mapping": (try Self.relay(secrets: ["s"]))["mapping"] ?? .null], "verifier.type"),
                ("/v1/inbound/sources/relay", ["kind": "mapped", "secrets": [["value": "s"]], "verifier": ["type": "basic"],
                                               "mapping": ["script": "return {name = ", "tests": ["cases": [["name": "x"]]]]], "mapping.script"),
                ("/v1/inbound/sources/relay", .object(failing), "mapping.tests.cases[0]"),
            ]
            for (path, body, field) in cases {
                let (status, problem, text) = try await Self.request(client, .put, path, body)
                #expect(status == .unprocessableContent, "\(field): \(text)")
                #expect(problem["errors"]?.arrayValue?.contains { $0["field"]?.stringValue == field } == true, "\(field): \(text)")
            }
            // Nothing was stored half-way: no source, no mapping version, no audit entry.
            #expect(try await h.count("SELECT COUNT(*) FROM inbound_sources") == 0)
            #expect(try await h.count("SELECT COUNT(*) FROM mapping_versions WHERE source = 'relay'") == 0)
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'source.configured'") == 0)
            #expect(try await Self.request(client, .get, "/v1/inbound/sources/relay").0 == .notFound)
        }
    }

    /// An API definition takes the file's place (and its secrets); removing it brings the
    /// file's back; and it outlives a restart.
    @Test func anAPIDefinitionOverridesTheFileSurvivesARestartAndRemovingItBringsTheFileBack() async throws {
        let database = try await TestDatabase.make()
        defer { database.close() }
        let data = scratchDirectory()
        let policies = try InboundMappedTests.policies()
        func start() async throws -> some ApplicationProtocol {
            try await buildApplication(database.configure(ServerConfiguration(dataDirectory: data, policiesDirectory: policies,
                                                                              adminKey: EventsHarness.admin)), database: database.appDatabase)
        }
        let h = EventsHarness(database: database, submitter: EventsHarness.admin, reviewer: EventsHarness.admin, sync: EventsHarness.admin)
        let replacement = "arbiter:cb-password-from-the-api"
        try await start().test(.router) { client in
            try await h.syncAccount(client, "acct_cb", ["status": "active", "currency": "USD", "external_refs": ["chargebee": "cb_cust_42"]])
            let (status, source, text) = try await Self.request(client, .put, "/v1/inbound/sources/chargebee", [
                "kind": "mapped", "verifier": ["type": "basic"], "message_id": ["field": "id"], "type_field": "event_type",
                "secrets": [["value": .string(replacement)]],
            ])
            #expect(status == .created, "\(text)")
            #expect(source["mapping"]?["name"] == "chargebee", "the live script stays when no mapping is given: \(source)")
            let (old, _, _) = try await InboundMappedTests.post(client, "chargebee", InboundMappedTests.paymentFailed("ev_o_1"),
                                                                 headers: InboundMappedTests.basic(InboundMappedTests.chargebeeAuth))
            #expect(old == .unauthorized, "the file's credentials no longer open the source")
        }
        try await start().test(.router) { client in
            let (status, message, _) = try await InboundMappedTests.post(client, "chargebee", InboundMappedTests.paymentFailed("ev_o_2"),
                                                                         headers: InboundMappedTests.basic(replacement))
            #expect(status == .ok && message["status"] == "processed", "the API's definition outlives a restart: \(message)")
            #expect(try await Self.request(client, .delete, "/v1/inbound/sources/chargebee").0 == .noContent)
            #expect(try await Self.request(client, .delete, "/v1/inbound/sources/chargebee").0 == .notFound)
            let (back, _, _) = try await InboundMappedTests.post(client, "chargebee", InboundMappedTests.paymentFailed("ev_o_3"),
                                                                  headers: InboundMappedTests.basic(InboundMappedTests.chargebeeAuth))
            #expect(back == .ok, "the file's source is back")
            let (_, source, _) = try await Self.request(client, .get, "/v1/inbound/sources/chargebee")
            #expect(source["configured_in"] == "sources.json")
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'source.removed'") == 1)
        }
        try await start().test(.router) { client in
            let (status, _, _) = try await InboundMappedTests.post(client, "chargebee", InboundMappedTests.paymentFailed("ev_o_4"),
                                                                   headers: InboundMappedTests.basic(replacement))
            #expect(status == .unauthorized, "removed stays removed after a restart")
        }
    }
}
