import ArbiterApp
import ArbiterCore
import ArbiterERP
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOHTTP1
import Testing
@testable import ArbiterServer

/// The netsuite connector against Scripts/netsuite-standin.py over real HTTP: an upsert by
/// external id, the internal id from `Location` as the reference, OAuth 2.0 tokens cached and
/// refreshed, the same action sent twice leaving one document, and refusals as dead letters.
@Suite(.timeLimit(.minutes(5))) struct NetSuiteTests {
    static let clientId = "arbiter-m2m"
    static let clientSecret = "netsuite-client-secret-0123"

    static func start() async throws -> StandIn {
        try await StandIn("netsuite-standin.py", ["--client-id", clientId, "--client-secret", clientSecret, "--customers", "100,101"])
    }

    static func targets(_ netsuite: StandIn, secret: String = clientSecret) -> [DeliveryTarget] {
        let profile = NetSuiteProfile(url: netsuite.url,
                                      oauth: OAuthSettings(tokenURL: netsuite.url + "/services/rest/auth/oauth2/v1/token", clientId: clientId,
                                                           clientSecret: secret),
                                      subsidiary: "1", item: "42", refundAccount: "112")
        return [DeliveryTarget(name: "erp", types: NetSuiteProfile.types, connector: .netsuite(profile), settings: DeliveryTests.fast),
                DeliveryTarget(name: "billing", types: Set(ActionType.allCases).subtracting(NetSuiteProfile.types), connector: .none,
                               settings: DeliveryTests.fast)]
    }

    static func account(_ client: some TestClientProtocol, _ h: EventsHarness, ref: String? = "100") async throws {
        var fields: [String: JSONValue] = ["status": "active", "tier": "premium", "currency": "USD"]
        if let ref { fields["external_refs"] = ["netsuite": .string(ref)] }
        try await h.syncAccount(client, "acct_1", .object(fields))
    }

    static func records(_ netsuite: StandIn) async throws -> [String: JSONValue] {
        try await netsuite.call(.GET, "/_control/state")["records"]?.objectValue ?? [:]
    }

    @Test func aCreditMemoIsUpsertedByExternalIdWithTheInternalIdAsItsReference() async throws {
        let netsuite = try await Self.start()
        defer { netsuite.stop() }
        try await EventsHarness.run(policies: try DeliveryTests.approveAllPolicies(), targets: Self.targets(netsuite)) { client, h in
            try await Self.account(client, h)
            let id = try await DeliveryTests.credit(client, h, amount: 123_450, memo: "outage credit")
            #expect(try await eventually { try await DeliveryTests.status(h, id) == "delivered" })
            let records = try await Self.records(netsuite)
            #expect(records.count == 1)
            let (path, memo) = try #require(records.first)
            #expect(path.hasPrefix("creditMemo/"))
            #expect(memo["externalId"] == .string(id), "the action's id is the external id (it fits NetSuite's characters)")
            #expect(memo["entity"]?["id"] == "100" && memo["subsidiary"]?["id"] == "1")
            #expect(memo["currency"]?["refName"] == "USD")
            let line = memo["item"]?["items"]?.arrayValue?.first
            #expect(line?["amount"] == .double(1234.5) && line?["item"]?["id"] == "42", "\(memo)")
            let action = try await DeliveryTests.action(client, h, id)
            #expect(action["erp_reference"]?.stringValue == memo["id"]?.stringValue, "the internal id from Location")
            #expect(action["attempt_log"]?.arrayValue?.first?["status_code"] == 204)
        }
    }

    @Test func theSameActionSentTwiceLeavesOneDocumentAndAnExpiredTokenIsRefreshedOnce() async throws {
        let netsuite = try await Self.start()
        defer { netsuite.stop() }
        try await EventsHarness.run(policies: try DeliveryTests.approveAllPolicies(), targets: Self.targets(netsuite)) { client, h in
            try await Self.account(client, h)
            // Applied in NetSuite, the answer lost (as in a crash between sending and recording):
            // the retry upserts the same external id.
            _ = try await netsuite.call(.POST, "/_control/drop", ["times": 1])
            let first = try await DeliveryTests.credit(client, h)
            #expect(try await eventually { try await DeliveryTests.status(h, first) == "delivered" })
            #expect(try await Self.records(netsuite).count == 1, "one document, not two")
            #expect(try await DeliveryTests.action(client, h, first)["attempts"] == 2)

            // The token expires: the 401 fetches a new one and the action goes on the same attempt.
            let before = try await netsuite.call(.GET, "/_control/state")["token_requests"]?.intValue ?? 0
            #expect(before == 1, "one token for every delivery so far")
            _ = try await netsuite.call(.POST, "/_control/expire")
            let second = try await DeliveryTests.credit(client, h)
            #expect(try await eventually { try await DeliveryTests.status(h, second) == "delivered" })
            #expect(try await netsuite.call(.GET, "/_control/state")["token_requests"] == .int(before + 1))
            #expect(try await DeliveryTests.action(client, h, second)["attempts"] == 1)
            #expect(try await Self.records(netsuite).count == 2)
        }
    }

    @Test func aCustomerWithoutItsNetSuiteIdOrAWrongClientSecretIsADeadLetterNamingWhy() async throws {
        let netsuite = try await Self.start()
        defer { netsuite.stop() }
        try await EventsHarness.run(policies: try DeliveryTests.approveAllPolicies(), targets: Self.targets(netsuite)) { client, h in
            try await Self.account(client, h, ref: nil)
            let id = try await DeliveryTests.credit(client, h)
            #expect(try await eventually { try await DeliveryTests.status(h, id) == "dead" })
            let dead = try await DeliveryTests.action(client, h, id)
            #expect(dead["last_error"]?.stringValue?.contains("no external_refs.netsuite") == true, "\(dead)")
            // Synced with its reference, then retried: delivered.
            try await Self.account(client, h)
            #expect(try await PoliciesTests.send(client, .post, "/v1/actions/\(id)/retry", key: EventsHarness.admin).0 == .ok)
            #expect(try await eventually { try await DeliveryTests.status(h, id) == "delivered" })
        }
        try await EventsHarness.run(policies: try DeliveryTests.approveAllPolicies(), targets: Self.targets(netsuite, secret: "not-the-secret")) { client, h in
            try await Self.account(client, h)
            let id = try await DeliveryTests.credit(client, h)
            #expect(try await eventually { try await DeliveryTests.status(h, id) == "dead" })
            let dead = try await DeliveryTests.action(client, h, id)
            #expect(dead["last_error"]?.stringValue?.contains("no access token") == true, "\(dead)")
            #expect(dead["attempts"] == 1, "a refused client is not retried")
        }
    }

    /// File-mode users: NetSuite's CSV import layout, a header once per file, quoted fields, the
    /// action's id as the External ID.
    @Test func theCSVImportLayoutWritesOneRowPerDocumentUnderAHeader() async throws {
        let directory = try temporaryDirectory().path
        let layout = NetSuiteCSVLayout(subsidiary: "1", item: "42")
        let targets = [DeliveryTarget(name: "erp", types: NetSuiteProfile.types, connector: .netsuiteCSV(directory: directory, layout: layout),
                                      settings: DeliveryTests.fast),
                       DeliveryTarget(name: "other", types: Set(ActionType.allCases).subtracting(NetSuiteProfile.types), connector: .none,
                                      settings: DeliveryTests.fast)]
        try await EventsHarness.run(policies: try DeliveryTests.approveAllPolicies(), targets: targets) { client, h in
            try await Self.account(client, h)
            let first = try await DeliveryTests.credit(client, h, amount: 123_450, memo: "outage, 6 hours \"sev1\"")
            let second = try await DeliveryTests.credit(client, h, amount: 500, memo: "goodwill")
            #expect(try await eventually {
                let one = try await DeliveryTests.status(h, first), two = try await DeliveryTests.status(h, second)
                return one == "delivered" && two == "delivered"
            })
            let file = try #require(try FileManager.default.contentsOfDirectory(atPath: directory).first { $0.hasPrefix("netsuite-creditMemo-") })
            let text = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
            let rows = text.components(separatedBy: "\r\n").filter { !$0.isEmpty }
            #expect(rows.count == 3, "\(text)")
            #expect(rows[0] == "External ID,Customer,Subsidiary,Currency,Date,Memo,Item,Quantity,Rate,Amount")
            #expect(rows[1].hasPrefix("\(first),100,1,USD,") && rows[1].hasSuffix(",\"outage, 6 hours \"\"sev1\"\"\",42,1,1234.50,1234.50"), "\(rows[1])")
            #expect(rows[2].hasSuffix(",goodwill,42,1,5.00,5.00"), "\(rows[2])")
            #expect(try await DeliveryTests.action(client, h, first)["erp_reference"] == .string(file))
        }
    }

    @Test func externalIdsKeepOnlyWhatNetSuiteAllows() {
        #expect(NetSuiteConnector.externalId("0193b2c4-7d1e-7abc-9def-0123456789ab") == "0193b2c4-7d1e-7abc-9def-0123456789ab")
        #expect(NetSuiteConnector.externalId("a.b/c d_e-f") == "a_b_c_d_e-f")
    }
}
