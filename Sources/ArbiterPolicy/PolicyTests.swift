import ArbiterCore
import Foundation

/// A policy's test cases, as written in `Policies/tests/<name>.json`:
///
/// ```json
/// {"cases": [{
///   "name": "small credit for an active standard account is approved",
///   "event": {"type": "credit.requested", "account_id": "acct_1",
///             "payload": {"amount_minor": 2500, "currency": "USD", "reason": "outage"}},
///   "context": {"account": {"status": "active", "tier": "standard", "currency": "USD"},
///               "history": {"credits_90d_minor": 0}},
///   "expect": {"outcome": "approve", "queue": null,
///              "actions": [{"type": "credit_memo", "amount_minor": 2500, "currency": "USD"}],
///              "reasons_contain": ["within"]}
/// }]}
/// ```
///
/// The event is an envelope as the API takes it; `id`, `source`, `occurred_at` and
/// `correlation_id` may be left out (test values are filled in). `context` is as for
/// `arbiter policy simulate`. In `expect`, only the keys given are checked: `outcome`,
/// `queue` (null for none), `actions` (same count, each expected field equal),
/// `reasons_contain` (each a substring of some reason) and `error_contains`.
/// The case runs the policy alone through the service's combiner and guardrails, so an error
/// shows as the service would decide it: review in `policy-errors`.
public struct PolicyTestCase: Sendable {
    public var name: String
    public var event: JSONValue
    public var context: JSONValue?
    public var expect: [String: JSONValue]

    /// Reads the cases of a test file. Throws with the file and case named when malformed.
    public static func load(_ url: URL) throws -> [PolicyTestCase] {
        let file = url.lastPathComponent
        let value: JSONValue
        do {
            value = try JSONValue.parse(Data(contentsOf: url))
        } catch {
            throw PolicyLoadError(file: file, message: "tests/\(file): not valid JSON (\(error.localizedDescription))")
        }
        return try parse(value, file: "tests/\(file)")
    }

    public static func parse(_ value: JSONValue, file: String) throws -> [PolicyTestCase] {
        guard let cases = value["cases"]?.arrayValue else {
            throw PolicyLoadError(file: file, message: "\(file): expected {\"cases\": [...]}")
        }
        return try cases.enumerated().map { i, c in
            guard let name = c["name"]?.stringValue, let event = c["event"], let expect = c["expect"]?.objectValue else {
                throw PolicyLoadError(file: file, message: "\(file): case \(i + 1) needs name, event and expect")
            }
            return PolicyTestCase(name: name, event: event, context: c["context"], expect: expect)
        }
    }
}

/// One case that did not pass.
public struct PolicyTestFailure: Sendable, CustomStringConvertible {
    public var policy: String
    public var caseName: String
    public var expected: String
    public var actual: String

    public var description: String {
        "FAIL \(policy): \(caseName)\n  expected: \(expected)\n  actual:   \(actual)"
    }
}

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
