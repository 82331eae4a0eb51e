import ArbiterApp
import ArbiterCore
import ArbiterERP
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
@testable import ArbiterServer

/// Actions routed by type to the system that owns them (`--targets`): each target its own
/// connector, settings, lines and dead letters; the routing read from a file with errors that
/// name the field; waiting actions following a routing change at start.
@Suite(.timeLimit(.minutes(5))) struct DeliveryTargetsTests {
    static func targets(erp: String, billing: String, billingAttempts: Int = 4) -> [DeliveryTarget] {
        [DeliveryTarget(name: "erp", types: [.creditMemo, .refund], connector: .http(url: erp, secret: DeliveryTests.secret),
                        settings: DeliveryTests.fast),
         DeliveryTarget(name: "billing", types: [.accountSuspension, .accountReinstatement, .entitlementGrant, .entitlementRevoke],
                        connector: .http(url: billing, secret: DeliveryTests.secret),
                        settings: DeliverySettings(maxAttempts: billingAttempts, baseDelay: .milliseconds(40), maxDelay: .seconds(3),
                                                   timeout: .seconds(1), concurrency: 2))]
    }

    static func grant(_ client: some TestClientProtocol, _ h: EventsHarness, account: String = "acct_1", feature: String = "sso")
        async throws -> String {
        let (status, body, _) = try await h.post(client, validEnvelope("entitlement.requested", id: UUID().uuidString, account: account,
                                                                        payload: ["feature": .string(feature), "reason": "security review"]))
        #expect(status == .created, "\(body)")
        return try #require(body["decision"]?["actions"]?.arrayValue?.first?["id"]?.stringValue)
    }

    @Test func eachTypeGoesToItsTargetAndADeadLetterInOneHoldsNothingInTheOther() async throws {
        let erp = try await FakeERP.start()
        // The provisioning system refuses everything (400): its actions end as dead letters.
        let billing = try await FakeERP.start { _, _ in .status(400, body: #"{"error":"unknown plan"}"#) }
        defer { Task { await erp.stop(); await billing.stop() } }
        try await EventsHarness.run(policies: try DeliveryTests.approveAllPolicies(), delivery: DeliveryTests.fast,
                                    targets: Self.targets(erp: erp.url, billing: billing.url)) { client, h in
            let granted = try await Self.grant(client, h)
            #expect(try await eventually { try await DeliveryTests.status(h, granted) == "dead" })
            // The same account's credits after it: delivered to the ERP, not held by billing's dead letter.
            let credits = [try await DeliveryTests.credit(client, h), try await DeliveryTests.credit(client, h)]
            #expect(try await eventually {
                var all = true
                for id in credits { all = try await DeliveryTests.status(h, id) == "delivered" && all }
                return all
            })
            #expect(erp.receipts.count == 2 && erp.receipts.allSatisfy { $0.json["type"] == "credit_memo" })
            #expect(billing.receipts.allSatisfy { $0.json["type"] == "entitlement_grant" } && billing.receipts.count == 1,
                    "400 is refused for good: one attempt")
            // Each action says its target; operators filter by it.
            let (_, dead) = try await h.get(client, "/v1/actions?target=billing&status=dead", key: EventsHarness.admin)
            #expect(dead["items"]?.arrayValue?.map { $0["id"] } == [.string(granted)])
            #expect(dead["items"]?.arrayValue?.first?["target"] == "billing")
            let (_, delivered) = try await h.get(client, "/v1/actions?target=erp", key: EventsHarness.admin)
            #expect(delivered["items"]?.arrayValue?.count == 2)
            // A second grant waits behind billing's dead letter (its own line, in order).
            let second = try await Self.grant(client, h, feature: "audit_export")
            let (_, held) = try await h.get(client, "/v1/actions/\(second)", key: EventsHarness.admin)
            #expect(held["held_by"] == .string(granted), "\(held)")
            // /readyz names the targets and what each takes.
            let ready = try await client.execute(uri: "/readyz", method: .get) { try JSONValue.parse(Data(String(buffer: $0.body).utf8)) }
            let names = ready["erp"]?["targets"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
            #expect(names == ["erp", "billing"], "\(ready)")
        }
    }

    /// A target that cannot start (its spool directory cannot be made) stops the service from
    /// starting with the error — the targets made before it shut their HTTP clients down first
    /// (a client dropped unshut would crash the process).
    @Test func aTargetThatCannotStartStopsTheStartCleanly() async throws {
        let blocker = try temporaryDirectory().appendingPathComponent("a-file")
        try Data("not a directory".utf8).write(to: blocker)
        let targets = [DeliveryTarget(name: "erp", types: [.creditMemo, .refund], connector: .http(url: "http://127.0.0.1:9", secret: DeliveryTests.secret),
                                      settings: DeliveryTests.fast),
                       DeliveryTarget(name: "billing", types: [.accountSuspension, .accountReinstatement, .entitlementGrant, .entitlementRevoke],
                                      connector: .spool(directory: blocker.appendingPathComponent("spool").path), settings: DeliveryTests.fast)]
        await #expect(throws: (any Error).self) {
            try await EventsHarness.run(policies: try DeliveryTests.approveAllPolicies(), targets: targets) { _, _ in }
        }
    }

    @Test func aTargetsFileIsReadWithErrorsThatNameTheField() throws {
        let directory = try temporaryDirectory()
        func load(_ document: JSONValue, environment: [String: String] = [:]) throws -> [DeliveryTarget] {
            let file = directory.appendingPathComponent("targets-\(UUID().uuidString).json")
            try Data(CanonicalJSON.encode(document)).write(to: file)
            return try DeliveryTarget.load(file, defaults: DeliverySettings(), environment: environment)
        }
        let good: JSONValue = ["targets": [
            ["name": "erp", "actions": ["credit_memo", "refund"], "concurrency": 4, "timeout_ms": 2500,
             "connector": ["kind": "http", "url": "https://erp.example.com/arbiter", "secret": ["env": "ERP_SECRET"]]],
            ["name": "billing", "actions": ["account_suspension", "account_reinstatement", "entitlement_grant", "entitlement_revoke"],
             "connector": ["kind": "file", "directory": "/var/spool/billing"]],
        ]]
        let targets = try load(good, environment: ["ERP_SECRET": "erp-secret-0123456789abcdef"])
        #expect(targets.map(\.name) == ["erp", "billing"])
        #expect(targets[0].settings.concurrency == 4 && targets[0].settings.timeout == .milliseconds(2500))
        #expect(targets[1].settings == DeliverySettings(), "settings not given are the defaults")
        #expect(DeliveryTarget.routing(targets).target(for: .entitlementGrant) == "billing")

        func refusal(_ document: JSONValue, environment: [String: String] = [:]) -> [String] {
            do {
                _ = try load(document, environment: environment)
                return []
            } catch let refusal as Refusal {
                return refusal.errors.map { "\($0.field): \($0.message)" }
            } catch {
                return ["\(error)"]
            }
        }
        #expect(refusal(["targets": []]).first?.hasPrefix("targets:") == true)
        var twice = good
        twice = ["targets": [good["targets"]?.arrayValue?[0] ?? .null,
                             ["name": "billing", "actions": ["credit_memo", "account_suspension", "account_reinstatement", "entitlement_grant",
                                                             "entitlement_revoke"], "connector": ["kind": "none"]]]]
        #expect(refusal(twice, environment: ["ERP_SECRET": "erp-secret-0123456789abcdef"])
            .contains("targets[1].actions[0]: credit_memo is already routed to erp"))
        let unrouted: JSONValue = ["targets": [["name": "erp", "actions": ["credit_memo"], "connector": ["kind": "none"]]]]
        #expect(refusal(unrouted).first?.contains("refund, account_suspension") == true, "\(refusal(unrouted))")
        #expect(refusal(["targets": [["name": "answers", "actions": ["credit_memo"], "connector": ["kind": "none"]]]])
            .contains { $0.hasPrefix("targets[0].name:") })
        #expect(refusal(["targets": [["name": "erp", "actions": ["credit_note"], "connector": ["kind": "none"]]]])
            .contains { $0.hasPrefix("targets[0].actions[0]: must be one of credit_memo") })
        #expect(refusal(good).contains { $0.hasPrefix("targets[0].connector.secret:") }, "an unset secret is an error, not a silent wait")
        #expect(refusal(["targets": [["name": "erp", "actions": ["credit_memo"], "connector": ["kind": "sap"]]]])
            .contains("targets[0].connector.kind: must be http, file, netsuite, business_central or none"))
        #expect(refusal(["targets": [["name": "erp", "actions": ["credit_memo"], "concurrency": 0, "connector": ["kind": "none"]]]])
            .contains { $0.hasPrefix("targets[0].concurrency:") })
    }

    @Test func serveRefusesABadTargetsFileNamingTheFieldAndTheFlagsItReplaces() throws {
        let directory = try temporaryDirectory().path
        let file = directory + "/targets.json"
        try #"{"targets": [{"name": "erp", "actions": ["credit_memo", "refund", "account_suspension", "account_reinstatement", "entitlement_grant", "entitlement_revoke"], "connector": {"kind": "http", "url": "ftp://erp"}}]}"#
            .write(toFile: file, atomically: true, encoding: .utf8)
        let (status, output) = try runArbiter(["serve", "--data-dir", directory + "/data", "--policies", directory, "--port", "0",
                                               "--targets", file])
        #expect(status != 0 && output.contains("targets[0].connector.url: must be an http:// or https:// URL"), "\(output)")
        let (both, said) = try runArbiter(["serve", "--data-dir", directory + "/data", "--policies", directory, "--port", "0",
                                           "--targets", file, "--erp-spool", directory + "/spool"])
        #expect(both != 0 && said.contains("choose --targets or --erp-url/--erp-spool"), "\(said)")
    }

    /// Actions queued under one routing move to the target their type has after a restart with
    /// another: a grant waiting for the ERP goes to the new provisioning target and is delivered.
    @Test func waitingActionsFollowARoutingChangeAtStart() async throws {
        let database = try await TestDatabase.make()
        defer { database.close() }
        let billing = try await FakeERP.start()
        defer { Task { await billing.stop() } }
        let policies = try DeliveryTests.approveAllPolicies()
        let data = scratchDirectory()
        func start(_ targets: [DeliveryTarget]) async throws -> some ApplicationProtocol {
            var configuration = database.configure(ServerConfiguration(dataDirectory: data, policiesDirectory: policies,
                                                                       adminKey: EventsHarness.admin, delivery: DeliveryTests.fast))
            configuration.targets = targets
            return try await buildApplication(configuration, database: database.appDatabase)
        }
        let h = EventsHarness(database: database, submitter: EventsHarness.admin, reviewer: EventsHarness.admin, sync: EventsHarness.admin)
        let granted = Locked<String>("")
        // First: one target, no connector; everything waits there.
        try await start([]).test(.router) { client in
            granted.withLock { $0 = "" }
            let id = try await Self.grant(client, h)
            granted.withLock { $0 = id }
            #expect(try await h.database.string("SELECT target FROM outbox_actions WHERE id = ?", [id]) == "erp")
        }
        let id = granted.withLock { $0 }
        try await start([DeliveryTarget(name: "erp", types: [.creditMemo, .refund], connector: .none, settings: DeliveryTests.fast),
                         DeliveryTarget(name: "billing", types: [.accountSuspension, .accountReinstatement, .entitlementGrant, .entitlementRevoke],
                                        connector: .http(url: billing.url, secret: DeliveryTests.secret), settings: DeliveryTests.fast)])
            .test(.router) { client in
                #expect(try await eventually { try await DeliveryTests.status(h, id) == "delivered" })
                #expect(billing.receipts.first?.key == id)
                let (_, action) = try await h.get(client, "/v1/actions/\(id)", key: EventsHarness.admin)
                #expect(action["target"] == "billing")
                #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'outbox.rerouted'") == 1)
            }
    }
}
