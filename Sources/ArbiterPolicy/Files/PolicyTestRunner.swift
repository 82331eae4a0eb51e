import ArbiterCore
import Foundation

/// Runs test cases against compiled policies.
public struct PolicyTestRunner: Sendable {
    public let engine: PolicyEngine
    public let guardrails: Guardrails

    public init(engine: PolicyEngine, guardrails: Guardrails = Guardrails()) {
        self.engine = engine
        self.guardrails = guardrails
    }

    /// Fills in the envelope fields a test may leave out.
    static func completeEnvelope(_ event: JSONValue, index: Int) -> JSONValue {
        guard var fields = event.objectValue else { return event }
        let defaults: [String: JSONValue] = [
            "id": .string("test-\(index)"), "source": "policy-test", "occurred_at": "2026-01-01T00:00:00Z",
            "correlation_id": .string("test-\(index)"), "account_id": "acct_test",
        ]
        for (k, v) in defaults where fields[k] == nil { fields[k] = v }
        return .object(fields)
    }

    /// Runs every case of one policy; returns the failures (empty when all pass).
    public func run(policy: CompiledPolicy, cases: [PolicyTestCase]) -> [PolicyTestFailure] {
        let set = engine.set(of: [policy])
        var failures: [PolicyTestFailure] = []
        for (i, testCase) in cases.enumerated() {
            func fail(_ expected: String, _ actual: String) {
                failures.append(PolicyTestFailure(policy: policy.name, caseName: testCase.name, expected: expected, actual: actual))
            }
            let event: Event
            let context: PolicyContext
            do {
                event = try Event(envelope: Self.completeEnvelope(testCase.event, index: i + 1))
                context = try PolicyContext(json: testCase.context, accountId: event.accountId,
                                            defaultNow: Int64(event.occurredAt.timeIntervalSince1970))
            } catch {
                fail("a valid event and context", "\(error)")
                continue
            }
            let decision = engine.decide(event, context: context, guardrails: guardrails, set: set, live: false)
            if let problem = Self.mismatch(expect: testCase.expect, decision: decision) {
                fail(problem.expected, problem.actual + " — " + Self.summary(decision))
            }
        }
        return failures
    }

    static func summary(_ d: Decision) -> String {
        var parts = ["outcome=\(d.outcome.rawValue)"]
        if let q = d.queue { parts.append("queue=\(q)") }
        if !d.actions.isEmpty {
            parts.append("actions=[" + d.actions.map { a in a.money.map { "\(a.type.rawValue) \($0)" } ?? a.type.rawValue }.joined(separator: ", ") + "]")
        }
        parts.append("reasons=\(d.reasons)")
        return parts.joined(separator: " ")
    }

    static func mismatch(expect: [String: JSONValue], decision: Decision) -> (expected: String, actual: String)? {
        if let outcome = expect["outcome"], outcome.stringValue != decision.outcome.rawValue {
            return ("outcome=\(outcome.stringValue ?? "?")", "outcome=\(decision.outcome.rawValue)")
        }
        if let queue = expect["queue"] {
            let expected = queue.stringValue
            if expected != decision.queue { return ("queue=\(expected ?? "none")", "queue=\(decision.queue ?? "none")") }
        }
        if let actions = expect["actions"]?.arrayValue {
            if actions.count != decision.actions.count {
                return ("\(actions.count) action(s) \(CanonicalJSON.string(.array(actions)))",
                        "\(decision.actions.count) action(s) \(CanonicalJSON.string(.array(decision.actions.map(\.json))))")
            }
            for (i, (want, got)) in zip(actions, decision.actions).enumerated() {
                for (key, value) in want.objectValue ?? [:] where got.fields[key] != value {
                    return ("actions[\(i + 1)].\(key)=\(CanonicalJSON.string(value))",
                            "actions[\(i + 1)].\(key)=\(got.fields[key].map(CanonicalJSON.string) ?? "absent")")
                }
            }
        }
        for needle in expect["reasons_contain"]?.arrayValue?.compactMap(\.stringValue) ?? [] {
            if !decision.reasons.contains(where: { $0.contains(needle) }) {
                return ("a reason containing \"\(needle)\"", "reasons=\(decision.reasons)")
            }
        }
        if let needle = expect["error_contains"]?.stringValue {
            let errors = decision.policies.compactMap(\.error)
            if !errors.contains(where: { $0.contains(needle) }) {
                return ("an error containing \"\(needle)\"", "errors=\(errors)")
            }
        }
        return nil
    }
}
