import ArbiterCore
import ArbiterPolicy
import Foundation
import Testing

/// A credit request envelope as a submitter would send it.
func creditEvent(amount: Int64 = 2500, currency: String = "USD", reason: String = "outage", account: String = "acct_1",
                 extra: [String: JSONValue] = [:]) throws -> Event {
    var payload: [String: JSONValue] = ["amount_minor": .int(amount), "currency": .string(currency), "reason": .string(reason)]
    for (k, v) in extra { payload[k] = v }
    return try Event(envelope: .object([
        "id": .string("evt-\(UUID().uuidString)"), "type": "credit.requested", "source": "tests",
        "occurred_at": "2026-11-22T10:00:00Z", "account_id": .string(account), "correlation_id": "case_1",
        "payload": .object(payload),
    ]))
}

func activeStandard(_ id: String = "acct_1") -> PolicyContext {
    PolicyContext(account: AccountSnapshot(id: id, status: .active, tier: "standard", currency: "USD"), now: 1_763_800_000)
}

/// An engine with the given policies (file name → source) active.
func engine(_ policies: [String: String], limits: PolicyLimits = PolicyLimits()) throws -> PolicyEngine {
    let engine = PolicyEngine(limits: limits, config: ["region": "eu", "limits": ["max": 5]])
    let set = try engine.compile(policies.sorted { $0.key < $1.key }.map { PolicySource(file: $0.key, source: $0.value) })
    engine.activate(set)
    return engine
}

/// A policy deciding credit requests with `body` as the body of decide(event, ctx).
func policy(_ body: String, name: String = "probe") -> String {
    """
    return {
      name = "\(name)",
      on = { "credit.requested" },
      decide = function(event, ctx)
        \(body)
      end,
    }
    """
}

/// The repository's Policies directory.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
