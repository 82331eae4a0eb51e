import ArbiterCore
import ArbiterServer
import ArbiterSQLite
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// Policy versions through the API: publish (compiled and tested first), activate, roll back,
/// deactivate, without a restart.
@Suite(.timeLimit(.minutes(5))) struct PoliciesTests {
    /// credit_thresholds with a lower auto-approval limit: a credit of 25.00 on a standard
    /// account goes to review instead of being approved.
    static func stricterCreditPolicy() throws -> String {
        let shipped = try String(contentsOf: repositoryRoot.appendingPathComponent("Policies/credit_thresholds.lua"), encoding: .utf8)
        return shipped.replacingOccurrences(of: "standard = 5000,     --   50.00", with: "standard = 1000,     --   10.00")
    }

    static func send(_ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, key: String, body: String? = nil,
                     contentType: String = "application/json") async throws -> (HTTPResponse.Status, JSONValue) {
        try await client.execute(uri: uri, method: method, headers: [.authorization: "Bearer \(key)", .contentType: contentType],
                                 body: body.map { ByteBuffer(string: $0) }) { response in
            (response.status, (try? JSONValue.parse(Data(String(buffer: response.body).utf8))) ?? .null)
        }
    }

    static func creditOutcome(_ client: some TestClientProtocol, _ h: EventsHarness) async throws -> (outcome: String, version: String) {
        let (_, body, _) = try await h.post(client, validEnvelope("credit.requested"))
        let decision = try #require(body["decision"])
        return (decision["outcome"]?.stringValue ?? "", decision["policies"]?.arrayValue?.first?["version"]?.stringValue ?? "")
    }

    @Test func publishActivateRollBackAndDeactivateWithoutARestart() async throws {
        try await EventsHarness.run { client, h in
            try await h.syncAccount(client, "acct_1", ["status": "active", "tier": "standard", "currency": "USD"])
            let admin = try await ReviewsTests.key(h, "finance lead", .policyAdmin)
            let original = try await Self.creditOutcome(client, h)
            #expect(original.outcome == "approve")

            let source = try Self.stricterCreditPolicy()
            var (status, published) = try await Self.send(client, .post, "/v1/policies", key: admin.secret, body: source, contentType: "text/x-lua")
            #expect(status == .created, "\(published)")
            let version = try #require(published["version"]?.stringValue)
            #expect(version == sha256Hex(Array(source.utf8)))
            #expect(published["status"] == "draft")
            #expect(published["published_by"] == .string(admin.id))
            (status, published) = try await Self.send(client, .post, "/v1/policies", key: admin.secret, body: source, contentType: "text/x-lua")
            #expect(status == .ok, "publishing the same source again returns the existing version")
            #expect(published["version"] == .string(version))
            #expect(try await Self.creditOutcome(client, h).version == original.version, "a draft decides nothing")

            let (_, list) = try await Self.send(client, .get, "/v1/policies", key: h.reviewer)
            let entry = try #require(list["policies"]?.arrayValue?.first { $0["name"] == "credit_thresholds" })
            #expect(entry["active_version"] == .string(original.version))
            #expect(entry["drafts"] == .array([.string(version)]))

            (status, _) = try await Self.send(client, .post, "/v1/policies/credit_thresholds/versions/\(version)/activate", key: admin.secret)
            #expect(status == .ok)
            let after = try await Self.creditOutcome(client, h)
            #expect(after.version == version)
            #expect(after.outcome == "review", "the stricter version decides the next request")

            let (rolled, rollback) = try await Self.send(client, .post, "/v1/policies/credit_thresholds/rollback", key: admin.secret)
            #expect(rolled == .ok)
            #expect(rollback["active_version"] == .string(original.version))
            #expect(try await Self.creditOutcome(client, h).version == original.version)

            let (deactivated, _) = try await Self.send(client, .post, "/v1/policies/credit_thresholds/deactivate", key: admin.secret)
            #expect(deactivated == .ok)
            let (_, noPolicy, _) = try await h.post(client, validEnvelope("credit.requested"))
            #expect(noPolicy["decision"]?["queue"] == "default-review")
            let (again, _) = try await Self.send(client, .post, "/v1/policies/credit_thresholds/deactivate", key: admin.secret)
            #expect(again == .conflict)

            let (_, stored) = try await Self.send(client, .get, "/v1/policies/credit_thresholds/versions/\(version)", key: admin.secret)
            #expect(stored["history"]?.arrayValue?.map { $0["change"] } == ["published", "activated"])
            #expect(stored["source"] == .string(source))
            let (_, versions) = try await Self.send(client, .get, "/v1/policies/credit_thresholds/versions", key: admin.secret)
            #expect(versions["versions"]?.arrayValue?.count == 2)
            let kinds = try await h.database.strings("SELECT kind FROM audit_log WHERE subject = 'credit_thresholds' AND actor = ? ORDER BY seq",
                                                     [admin.id])
            #expect(kinds == ["policy.published", "policy.activated", "policy.rolled_back", "policy.deactivated"])
        }
    }

    @Test func aVersionThatDoesNotCompileOrFailsItsTestsIsNotStored() async throws {
        try await EventsHarness.run { client, h in
            let admin = try await ReviewsTests.key(h, "finance lead", .policyAdmin)
            let before = try await h.count("SELECT COUNT(*) FROM policy_versions")
            let (broken, problem) = try await Self.send(client, .post, "/v1/policies", key: admin.secret,
                                                        body: "return { name = 'x', on = {'credit.requested'}, decide = function(e, c) return approve{ end }",
                                                        contentType: "text/x-lua")
            #expect(broken == .unprocessableContent)
            #expect(problem["errors"]?.arrayValue?.first?["field"] == "source", "\(problem)")
            let source = try Self.stricterCreditPolicy()
            let tests: JSONValue = ["cases": [[
                "name": "a 25.00 credit is approved",
                "event": ["type": "credit.requested", "payload": ["amount_minor": 2500, "currency": "USD", "reason": "x"]],
                "context": ["account": ["status": "active", "tier": "standard", "currency": "USD"]],
                "expect": ["outcome": "approve"],
            ]]]
            let body = String(decoding: CanonicalJSON.encode(.object(["source": .string(source), "tests": tests])), as: UTF8.self)
            let (failing, failure) = try await Self.send(client, .post, "/v1/policies", key: admin.secret, body: body)
            #expect(failing == .unprocessableContent)
            #expect(failure["errors"]?.arrayValue?.first?["field"] == "tests.a 25.00 credit is approved", "\(failure)")
            #expect(try await h.count("SELECT COUNT(*) FROM policy_versions") == before)
            let (forbidden, _) = try await Self.send(client, .post, "/v1/policies", key: h.submitter, body: source, contentType: "text/x-lua")
            #expect(forbidden == .forbidden)
            let (missing, _) = try await Self.send(client, .post, "/v1/policies/credit_thresholds/versions/\(String(repeating: "0", count: 64))/activate",
                                                   key: admin.secret)
            #expect(missing == .notFound)
        }
    }

    @Test func activationUnderLoadFailsNothingAndEachDecisionNamesOneVersion() async throws {
        try await EventsHarness.run { client, h in
            try await h.syncAccount(client, "acct_1", ["status": "active", "tier": "enterprise", "currency": "USD"])
            let admin = try await ReviewsTests.key(h, "finance lead", .policyAdmin)
            let original = try await Self.creditOutcome(client, h).version
            let (_, published) = try await Self.send(client, .post, "/v1/policies", key: admin.secret, body: try Self.stricterCreditPolicy(),
                                                     contentType: "text/x-lua")
            let version = try #require(published["version"]?.stringValue)
            let results = try await withThrowingTaskGroup(of: (HTTPResponse.Status, [String]).self) { group in
                for n in 0..<60 {
                    group.addTask {
                        if n == 20 {
                            _ = try await Self.send(client, .post, "/v1/policies/credit_thresholds/versions/\(version)/activate", key: admin.secret)
                        }
                        let (status, body, _) = try await h.post(client, validEnvelope("credit.requested", payload: ["amount_minor": 100]))
                        let versions = body["decision"]?["policies"]?.arrayValue?.compactMap { $0["version"]?.stringValue } ?? []
                        return (status, versions)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.allSatisfy { $0.0 == .created })
            #expect(results.allSatisfy { $0.1.count == 1 && [original, version].contains($0.1[0]) }, "\(results)")
            #expect(try await Self.creditOutcome(client, h).version == version)
        }
    }

    @Test func versionsActivatedThroughTheAPISurviveARestart() async throws {
        let database = try AppDatabase.inMemory()
        func start() async throws -> some ApplicationProtocol {
            try await buildApplication(ServerConfiguration(dataDirectory: scratchDirectory(), policiesDirectory: nil,
                                                           adminKey: EventsHarness.admin), database: database)
        }
        let source = try Self.stricterCreditPolicy()
        let version = sha256Hex(Array(source.utf8))
        try await start().test(.router) { client in
            _ = try await Self.send(client, .post, "/v1/policies", key: EventsHarness.admin, body: source, contentType: "text/x-lua")
            let (status, _) = try await Self.send(client, .post, "/v1/policies/credit_thresholds/versions/\(version)/activate", key: EventsHarness.admin)
            #expect(status == .ok)
        }
        try await start().test(.router) { client in
            let (_, ready) = try await Self.send(client, .get, "/readyz", key: EventsHarness.admin)
            #expect(ready["policies"] == .int(1))
            let (_, list) = try await Self.send(client, .get, "/v1/policies", key: EventsHarness.admin)
            #expect(list["policies"]?.arrayValue?.first?["active_version"] == .string(version))
        }
    }

    @Test func withMakerCheckerActivationNeedsASecondPolicyAdmin() async throws {
        try await EventsHarness.run(requirePolicyApproval: true) { client, h in
            try await h.syncAccount(client, "acct_1", ["status": "active", "tier": "standard", "currency": "USD"])
            let maker = try await ReviewsTests.key(h, "maker", .policyAdmin)
            let checker = try await ReviewsTests.key(h, "checker", .policyAdmin)
            let original = try await Self.creditOutcome(client, h).version
            let (_, published) = try await Self.send(client, .post, "/v1/policies", key: maker.secret, body: try Self.stricterCreditPolicy(),
                                                     contentType: "text/x-lua")
            let version = try #require(published["version"]?.stringValue)
            let activate = "/v1/policies/credit_thresholds/versions/\(version)/activate"
            let approve = "/v1/policies/credit_thresholds/versions/\(version)/approve"
            let (early, _) = try await Self.send(client, .post, approve, key: checker.secret)
            #expect(early == .conflict, "nothing to approve before a proposal")
            let (proposed, proposal) = try await Self.send(client, .post, activate, key: maker.secret)
            #expect(proposed == .accepted, "\(proposal)")
            #expect(try await Self.creditOutcome(client, h).version == original, "a proposal changes nothing")
            let (_, list) = try await Self.send(client, .get, "/v1/policies", key: maker.secret)
            let entry = try #require(list["policies"]?.arrayValue?.first { $0["name"] == "credit_thresholds" })
            #expect(entry["pending_activation"]?["version"] == .string(version))
            let (self_, refusal) = try await Self.send(client, .post, approve, key: maker.secret)
            #expect(self_ == .forbidden)
            #expect(refusal["detail"]?.stringValue?.contains("different policy admin") == true)
            let (approved, _) = try await Self.send(client, .post, approve, key: checker.secret)
            #expect(approved == .ok)
            #expect(try await Self.creditOutcome(client, h).version == version)
            let (_, stored) = try await Self.send(client, .get, "/v1/policies/credit_thresholds/versions/\(version)", key: maker.secret)
            #expect(stored["history"]?.arrayValue?.map { $0["change"] } == ["published", "proposed", "approved", "activated"])
            let actors = try await h.database.strings("SELECT kind || ' ' || actor FROM audit_log WHERE subject = 'credit_thresholds' AND kind IN ('policy.proposed', 'policy.approved', 'policy.activated') AND actor != 'system:startup' ORDER BY seq")
            #expect(actors == ["policy.proposed \(maker.id)", "policy.approved \(checker.id)", "policy.activated \(checker.id)"])

            // Rolling back and deactivating change what decides live too: proposals as well.
            let (rollback, proposal2) = try await Self.send(client, .post, "/v1/policies/credit_thresholds/rollback", key: maker.secret)
            #expect(rollback == .accepted, "\(proposal2)")
            #expect(proposal2["proposed_version"] == .string(original) && proposal2["proposed_change"] == "rollback")
            #expect(try await Self.creditOutcome(client, h).version == version, "a proposed rollback changes nothing")
            let (ownRollback, _) = try await Self.send(client, .post, "/v1/policies/credit_thresholds/versions/\(original)/approve", key: maker.secret)
            #expect(ownRollback == .forbidden)
            let (rolledBack, done) = try await Self.send(client, .post, "/v1/policies/credit_thresholds/versions/\(original)/approve", key: checker.secret)
            #expect(rolledBack == .ok && done["change"] == "rollback", "\(done)")
            #expect(try await Self.creditOutcome(client, h).version == original)

            let (deactivate, proposal3) = try await Self.send(client, .post, "/v1/policies/credit_thresholds/deactivate", key: checker.secret)
            #expect(deactivate == .accepted && proposal3["proposed_change"] == "deactivate", "\(proposal3)")
            #expect(try await Self.creditOutcome(client, h).version == original, "a proposed deactivation changes nothing")
            let (_, pending) = try await Self.send(client, .get, "/v1/policies", key: maker.secret)
            #expect(pending["policies"]?.arrayValue?.first { $0["name"] == "credit_thresholds" }?["pending_activation"]?["change"] == "deactivate")
            let (deactivated, _) = try await Self.send(client, .post, "/v1/policies/credit_thresholds/versions/\(original)/approve", key: maker.secret)
            #expect(deactivated == .ok)
            let (_, none, _) = try await h.post(client, validEnvelope("credit.requested"))
            #expect(none["decision"]?["queue"] == "default-review")
        }
    }
}
