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
