/// How a candidate's decision differs from the actual one.
public struct DecisionDifference: Sendable, Hashable {
    public let before: DecisionOutcome
    public let after: DecisionOutcome
    /// The outcomes differ.
    public let outcomeChanged: Bool
    /// Same outcome, but another queue or other actions (type, amount, currency).
    public let detailChanged: Bool

    public init(before: (outcome: DecisionOutcome, queue: String?, actions: [ProposedAction]), after: Decision) {
        self.before = before.outcome
        self.after = after.outcome
        outcomeChanged = before.outcome != after.outcome
        detailChanged = !outcomeChanged
            && (before.queue != after.queue || before.actions.map(\.summary) != after.actions.map(\.summary))
    }

    public init(before: DecisionOutcome, after: DecisionOutcome, detailChanged: Bool) {
        self.before = before
        self.after = after
        outcomeChanged = before != after
        self.detailChanged = !outcomeChanged && detailChanged
    }

    public var changed: Bool { outcomeChanged || detailChanged }

    /// `approve→review`: how transitions are counted and reported.
    public var transition: String { "\(before.rawValue)→\(after.rawValue)" }
}

extension ProposedAction {
    /// What identifies an action for comparisons: its type and money.
    public var summary: String { "\(type.rawValue) \(money?.amountMinor ?? 0) \(money?.currency.code ?? "")" }
}

extension [ProposedAction] {
    /// The money the actions move, by currency code.
    public var moneyByCurrency: [String: Int64] {
        var totals: [String: Int64] = [:]
        for action in self {
            if let money = action.money { totals[money.currency.code, default: 0] += money.amountMinor }
        }
        return totals
    }
}

extension PolicyResult {
    /// Reads a verdict as recorded in a decision (``json``), so that ``json`` gives it back
    /// (SLA settings are not recorded, and not needed to combine again).
    public init(json: JSONValue) throws {
        guard let fields = json.objectValue, let name = fields["name"]?.stringValue,
              let version = fields["version"]?.stringValue,
              let outcomeText = fields["outcome"]?.stringValue, let outcome = PolicyOutcome(rawValue: outcomeText) else {
            throw Refusal.invalid([FieldError("policies", "a recorded verdict needs name, version and outcome")])
        }
        let actions = try (fields["actions"]?.arrayValue ?? []).enumerated().map { index, action in
            try ProposedAction(fields: action.objectValue ?? [:], index: index + 1)
        }
        self.init(name: name, version: version, outcome: outcome, queue: fields["queue"]?.stringValue,
                  reasons: (fields["reasons"]?.arrayValue ?? []).compactMap(\.stringValue), actions: actions,
                  durationMicros: fields["duration_us"]?.intValue ?? 0, error: fields["error"]?.stringValue,
                  log: (fields["log"]?.arrayValue ?? []).compactMap(\.stringValue))
    }
}
