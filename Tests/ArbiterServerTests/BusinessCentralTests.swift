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

/// The business_central connector against Scripts/business-central-standin.py over real HTTP:
/// looked up by external document number, created with its line only when absent, posted,
/// delivered only once posted, its number the reference; tokens from the Entra-style endpoint.
@Suite(.timeLimit(.minutes(5))) struct BusinessCentralTests {
    static let clientId = "3f1c2d4e-arbiter"
    static let clientSecret = "bc-client-secret-0123456789"
    static let company = "11111111-2222-3333-4444-555555555555"

    static func start() async throws -> StandIn {
        try await StandIn("business-central-standin.py", ["--client-id", clientId, "--client-secret", clientSecret, "--company", company])
    }

    static func targets(_ bc: StandIn) -> [DeliveryTarget] {
        let profile = BusinessCentralProfile(url: bc.url + "/v2.0/contoso/production/api/v2.0", company: company,
                                             oauth: OAuthSettings(tokenURL: bc.url + "/contoso/oauth2/v2.0/token", clientId: clientId,
                                                                  clientSecret: clientSecret,
                                                                  scope: "https://api.businesscentral.dynamics.com/.default", authentication: .post),
                                             lineType: "Account", lineNumber: "6610")
        return [DeliveryTarget(name: "erp", types: BusinessCentralProfile.types, connector: .businessCentral(profile), settings: DeliveryTests.fast),
                DeliveryTarget(name: "other", types: Set(ActionType.allCases).subtracting(BusinessCentralProfile.types), connector: .none,
                               settings: DeliveryTests.fast)]
    }

    static func documents(_ bc: StandIn) async throws -> [JSONValue] {
        try await bc.call(.GET, "/_control/state")["documents"]?.arrayValue ?? []
    }

    @Test func aCreditMemoIsCreatedWithItsLinePostedAndReferencedByItsNumber() async throws {
        let bc = try await Self.start()
        defer { bc.stop() }
        try await EventsHarness.run(policies: try DeliveryTests.approveAllPolicies(), targets: Self.targets(bc)) { client, h in
            try await h.syncAccount(client, "acct_1", ["status": "active", "currency": "USD", "external_refs": ["business_central": "C10000"]])
            let id = try await DeliveryTests.credit(client, h, amount: 4_990, memo: "outage credit")
            #expect(try await eventually { try await DeliveryTests.status(h, id) == "delivered" })
            let documents = try await Self.documents(bc)
            #expect(documents.count == 1)
            let document = try #require(documents.first)
            #expect(document["externalDocumentNumber"] == .string(BusinessCentralConnector.documentNumber(id)))
            #expect(document["externalDocumentNumber"]?.stringValue?.count == 32, "the id without hyphens fits 35 characters")
            #expect(document["status"] == "Open" && document["customerNumber"] == "C10000" && document["currencyCode"] == "USD")
            #expect(document["salesCreditMemoLines"]?.arrayValue?.first?["unitPrice"] == .double(49.9))
            #expect(document["salesCreditMemoLines"]?.arrayValue?.first?["lineObjectNumber"] == "6610")
            let action = try await DeliveryTests.action(client, h, id)
            #expect(action["erp_reference"] == document["number"] && document["number"]?.stringValue?.hasPrefix("PS-CR") == true, "\(action)")
        }
    }

    /// Every step can be cut short — the creation's answer lost, the post failing, the token
    /// expired — and the next attempt finds the document where it was left: one document, posted.
    @Test func aCutShortAttemptFindsItsDocumentAndPostsItOnce() async throws {
        let bc = try await Self.start()
        defer { bc.stop() }
        try await EventsHarness.run(policies: try DeliveryTests.approveAllPolicies(), targets: Self.targets(bc)) { client, h in
            try await h.syncAccount(client, "acct_1", ["status": "active", "currency": "USD", "external_refs": ["business_central": "C10000"]])
            _ = try await bc.call(.POST, "/_control/drop", ["times": 1])
            _ = try await bc.call(.POST, "/_control/fail", ["status": 503, "times": 1, "path": "Microsoft.NAV.post"])
            let id = try await DeliveryTests.credit(client, h)
            #expect(try await eventually { try await DeliveryTests.status(h, id) == "delivered" })
            #expect(try await Self.documents(bc).count == 1, "created once though its answer was lost")
            #expect(try await Self.documents(bc).first?["status"] == "Open")
            #expect(try await DeliveryTests.action(client, h, id)["attempts"] == 3, "lost answer, failed post, then posted")

            _ = try await bc.call(.POST, "/_control/expire")
            let second = try await DeliveryTests.credit(client, h)
            #expect(try await eventually { try await DeliveryTests.status(h, second) == "delivered" })
            #expect(try await bc.call(.GET, "/_control/state")["token_requests"] == 2, "one token, refreshed once after it expired")
        }
    }

    @Test func aCustomerUnknownToBusinessCentralIsADeadLetterWithItsAnswer() async throws {
        let bc = try await Self.start()
        defer { bc.stop() }
        try await EventsHarness.run(policies: try DeliveryTests.approveAllPolicies(), targets: Self.targets(bc)) { client, h in
            try await h.syncAccount(client, "acct_1", ["status": "active", "currency": "USD", "external_refs": ["business_central": "C99999"]])
            let id = try await DeliveryTests.credit(client, h)
            #expect(try await eventually { try await DeliveryTests.status(h, id) == "dead" })
            let dead = try await DeliveryTests.action(client, h, id)
            #expect(dead["last_error"]?.stringValue?.contains("The Customer does not exist") == true, "\(dead)")
            #expect(try await Self.documents(bc).isEmpty)
        }
    }
}
