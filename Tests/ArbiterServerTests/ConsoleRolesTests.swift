import ArbiterApp
import ArbiterCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
@testable import ArbiterServer

/// The console's pages by role: each role starts on its own page, the navigation shows what it
/// may open, another role's page is refused in plain words, and every form of the new pages
/// checks the session's CSRF token before the command runs (the browser test walks the paths).
@Suite(.timeLimit(.minutes(5))) struct ConsoleRolesTests {
    typealias C = ConsoleTests
    typealias P = PoliciesTests

    @Test func eachRoleStartsOnItsPageAndAnotherRolesPageIsRefused() async throws {
        try await EventsHarness.run { client, h in
            let keys = Keys(store: h.database.keys)
            let operatorKey = try await keys.create(name: "Omar", role: .operator, by: "test").secret
            let auditor = try await keys.create(name: "Ines", role: .auditor, by: "test").secret
            for (key, home) in [(operatorKey, "/console/operations"), (auditor, "/console/audit"), (h.reviewer, "/console/queues")] {
                let session = try await C.signIn(client, key: key)
                let start = try await C.request(client, .get, "/console", cookies: [ConsoleCookie.session: session])
                #expect(start.location == home)
            }
            let reviewer = try await C.signIn(client, key: h.reviewer)
            let refused = try await C.request(client, .get, "/console/operations", cookies: [ConsoleCookie.session: reviewer])
            #expect(refused.status == .forbidden && refused.body.contains("is for the operator role; your key is reviewer"))
            let queues = try await C.request(client, .get, "/console/queues", cookies: [ConsoleCookie.session: reviewer])
            #expect(!queues.body.contains("/console/operations") && !queues.body.contains("/console/audit"), "a reviewer's navigation")
            let operatorSession = try await C.signIn(client, key: operatorKey)
            let dashboard = try await C.request(client, .get, "/console/operations", cookies: [ConsoleCookie.session: operatorSession])
            #expect(dashboard.status == .ok && dashboard.body.contains("<svg id=\"decisions-chart\""))
            #expect(dashboard.body.contains("href=\"/console/operations\" class=\"current\""), "the current page is marked")
            #expect(try await C.request(client, .get, "/console/audit/exports", cookies: [ConsoleCookie.session: operatorSession]).status == .forbidden)
            // Unsigned: to the sign-in page.
            #expect(try await C.request(client, .get, "/console/audit").location == "/console/sign-in")
        }
    }

    @Test func theNewFormsRefuseAMissingOrWrongToken() async throws {
        try await EventsHarness.run(policies: try DeliveryTests.approveAllPolicies()) { client, h in
            let keys = Keys(store: h.database.keys)
            let operatorKey = try await keys.create(name: "Omar", role: .operator, by: "test").secret
            let auditor = try await keys.create(name: "Ines", role: .auditor, by: "test").secret
            let id = try await DeliveryTests.credit(client, h)   // no connector: it waits, pending
            let session = try await C.signIn(client, key: operatorKey)
            let page = try await C.request(client, .get, "/console/operations", cookies: [ConsoleCookie.session: session])
            let token = try #require(C.csrf(page.body))
            let forged = try await C.request(client, .post, "/console/operations/actions/\(id)/cancel", cookies: [ConsoleCookie.session: session],
                                             form: ["csrf": "forged", "comment": "x"])
            #expect(forged.status == .forbidden && forged.body.contains("This form has expired"))
            #expect(try await DeliveryTests.status(h, id) == "pending", "nothing was done")
            let cancelled = try await C.request(client, .post, "/console/operations/actions/\(id)/cancel", cookies: [ConsoleCookie.session: session],
                                                form: ["csrf": token, "comment": "sent twice by the desk"])
            #expect(cancelled.status == .seeOther && cancelled.location == "/console/operations?done=cancelled")
            #expect(try await DeliveryTests.status(h, id) == "cancelled")
            let again = try await C.request(client, .post, "/console/operations/actions/\(id)/cancel", cookies: [ConsoleCookie.session: session],
                                            form: ["csrf": token, "comment": "again"])
            #expect(again.status == .conflict && again.body.contains("only a pending or dead action can be cancelled"), "the service's words")

            let auditorSession = try await C.signIn(client, key: auditor)
            let form = try await C.request(client, .get, "/console/audit/exports", cookies: [ConsoleCookie.session: auditorSession])
            let auditorToken = try #require(C.csrf(form.body))
            let noToken = try await C.request(client, .post, "/console/audit/exports", cookies: [ConsoleCookie.session: auditorSession],
                                              form: ["kind": "audit", "from": "2026-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z"])
            #expect(noToken.status == .forbidden)
            let started = try await C.request(client, .post, "/console/audit/exports", cookies: [ConsoleCookie.session: auditorSession],
                                              form: ["csrf": auditorToken, "kind": "audit", "from": "2026-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z"])
            #expect(started.status == .seeOther && started.location?.hasPrefix("/console/audit/exports/") == true)
            let operatorTries = try await C.request(client, .post, "/console/audit/exports", cookies: [ConsoleCookie.session: session],
                                                    form: ["csrf": token, "kind": "audit", "from": "2026-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z"])
            #expect(operatorTries.status == .forbidden, "exports are the auditors'")
        }
    }

    /// Other roles read the workbench; only policy admins change anything, and a change names
    /// the role it needs without doing it.
    @Test func theWorkbenchIsReadByEveryRoleAndChangedByPolicyAdminsOnly() async throws {
        try await EventsHarness.run { client, h in
            let reviewer = try await C.signIn(client, key: h.reviewer)
            let list = try await C.request(client, .get, "/console/policies", cookies: [ConsoleCookie.session: reviewer])
            #expect(list.status == .ok && list.body.contains("credit_thresholds") && !list.body.contains("id=\"publish-link\""))
            let policies = try await P.send(client, .get, "/v1/policies", key: EventsHarness.admin).1["policies"]?.arrayValue ?? []
            let active = try #require(policies.first { $0["name"] == "credit_thresholds" }?["active_version"]?.stringValue)
            let page = try await C.request(client, .get, "/console/policies/credit_thresholds/versions/\(active)", cookies: [ConsoleCookie.session: reviewer])
            #expect(page.status == .ok && page.body.contains("of 14 pass") && !page.body.contains("id=\"activate\""))
            let token = try #require(C.csrf(page.body))
            let refused = try await C.request(client, .post, "/console/policies/credit_thresholds/deactivate", cookies: [ConsoleCookie.session: reviewer],
                                              form: ["csrf": token])
            #expect(refused.status == .forbidden && refused.body.contains("needs the policy_admin role"))
            let after = try await P.send(client, .get, "/v1/policies", key: EventsHarness.admin).1["policies"]?.arrayValue ?? []
            #expect(after.first { $0["name"] == "credit_thresholds" }?["active_version"]?.stringValue == active, "still active")
            #expect(try await C.request(client, .get, "/console/policies/publish", cookies: [ConsoleCookie.session: reviewer]).status == .forbidden)
        }
    }
}
