import ArbiterCore
import ArbiterPolicy
import Foundation
import Testing

/// The policies shipped in Policies/ pass their own test cases.
@Suite(.timeLimit(.minutes(5))) struct ShippedPolicyTests {
    @Test func shippedPoliciesPassTheirTests() throws {
        let directory = PolicyDirectory(path: repositoryRoot.appendingPathComponent("Policies").path)
        let engine = PolicyEngine()
        let set = try engine.compile(directory.sources())
        #expect(set.policies.contains { $0.name == "credit_thresholds" })
        for policy in set.policies {
            let file = try #require(directory.testFile(for: policy.name), "\(policy.name) has no tests")
            let cases = try PolicyTestCase.load(file)
            #expect(cases.count >= 4, "\(policy.name): every branch needs a case")
            let failures = PolicyTestRunner(engine: engine).run(policy: policy, cases: cases)
            #expect(failures.isEmpty, "\(failures)")
        }
    }

    @Test func theRunnerReportsAFailingCase() throws {
        let engine = PolicyEngine()
        let set = try engine.compile([PolicySource(file: "p.lua", source: policy("return approve{}", name: "p"))])
        let cases = try PolicyTestCase.parse([
            "cases": [["name": "expects review", "event": ["type": "credit.requested", "payload": ["amount_minor": 1, "currency": "USD", "reason": "r"]],
                       "expect": ["outcome": "review"]]],
        ], file: "tests/p.json")
        let failures = PolicyTestRunner(engine: engine).run(policy: set.policies[0], cases: cases)
        #expect(failures.count == 1)
        #expect(failures.first?.expected == "outcome=review")
        #expect(failures.first?.actual.hasPrefix("outcome=approve") == true)
    }
}
