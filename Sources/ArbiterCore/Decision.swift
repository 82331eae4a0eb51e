/// What one policy decided.
public enum PolicyOutcome: String, Sendable, Codable {
    case approve
    case review
    case reject
}

/// The combined outcome for an event. Signals nobody decides on are `recorded`.
public enum DecisionOutcome: String, Sendable, Codable {
    case approve
    case review
    case reject
    case recorded
}

/// The well-known queues the service itself routes to.
public enum Queue {
    /// A policy errored, ran out of budget or time, or returned something malformed.
    public static let policyErrors = "policy-errors"
    /// A request type no policy decides.
    public static let defaultReview = "default-review"
    /// An approval whose actions break a ceiling or fail validation outside Lua.
    public static let guardrail = "guardrail"
}

/// One policy's verdict on one event, as recorded in the decision.
public struct PolicyResult: Sendable, Hashable {
    public var name: String
    /// The policy version: the SHA-256 of its source, in hex.
    public var version: String
    public var outcome: PolicyOutcome
    public var queue: String?
    public var reasons: [String]
    public var actions: [ProposedAction]
    public var slaSeconds: Int64?
    public var approvalsRequired: Int?
    public var durationMicros: Int64
    /// Set when the policy failed; the outcome is then review in `policy-errors`.
    public var error: String?
    /// Lines the policy wrote with `log(...)`.
    public var log: [String]

    public init(name: String, version: String, outcome: PolicyOutcome, queue: String? = nil, reasons: [String] = [],
                actions: [ProposedAction] = [], slaSeconds: Int64? = nil, approvalsRequired: Int? = nil,
                durationMicros: Int64 = 0, error: String? = nil, log: [String] = []) {
        self.name = name
        self.version = version
        self.outcome = outcome
        self.queue = queue
        self.reasons = reasons
        self.actions = actions
        self.slaSeconds = slaSeconds
        self.approvalsRequired = approvalsRequired
        self.durationMicros = durationMicros
        self.error = error
        self.log = log
    }

    /// A failed policy: review in `policy-errors` with the error as the reason. Never approve.
    public static func failure(name: String, version: String, error: String, durationMicros: Int64 = 0, log: [String] = []) -> PolicyResult {
        PolicyResult(name: name, version: version, outcome: .review, queue: Queue.policyErrors, reasons: [error],
                     durationMicros: durationMicros, error: error, log: log)
    }

    public var json: JSONValue {
        var fields: [String: JSONValue] = [
            "name": .string(name), "version": .string(version), "outcome": .string(outcome.rawValue),
            "reasons": .array(reasons.map(JSONValue.string)), "duration_us": .int(durationMicros),
            "error": error.map(JSONValue.string) ?? .null,
        ]
        if let queue { fields["queue"] = .string(queue) }
        if !actions.isEmpty { fields["actions"] = .array(actions.map(\.json)) }
        if !log.isEmpty { fields["log"] = .array(log.map(JSONValue.string)) }
        return .object(fields)
    }
}

/// The service's decision on an event: every policy's verdict combined, guardrails applied.
public struct Decision: Sendable, Hashable {
    public var outcome: DecisionOutcome
    public var queue: String?
    public var reasons: [String]
    public var actions: [ProposedAction]
    public var slaSeconds: Int64?
    public var approvalsRequired: Int
    public var policies: [PolicyResult]

    /// The decision as the API returns it (ids are added by the caller once stored).
    public var json: JSONValue {
        .object([
            "outcome": .string(outcome.rawValue),
            "queue": queue.map(JSONValue.string) ?? .null,
            "reasons": .array(reasons.map(JSONValue.string)),
            "actions": .array(actions.map(\.json)),
            "sla_hours": slaSeconds.map { .double(Double($0) / 3600) } ?? .null,
            "approvals_required": .int(Int64(approvalsRequired)),
            "policies": .array(policies.map(\.json)),
        ])
    }
}

/// Limits enforced outside Lua, so a buggy policy cannot auto-approve an absurd amount.
///
/// A ceiling caps the total a decision moves per money action type and currency: three credit
/// memos of 9,000.00 USD move 27,000.00 USD and break a 10,000.00 USD ceiling like one memo of
/// 27,000.00 would. Money in a currency with no ceiling for its type never auto-approves.
public struct Guardrails: Sendable, Hashable {
    /// Ceilings by money action type, then ISO 4217 currency, in minor units.
    public var ceilings: [ActionType: [String: Int64]] {
        didSet { table = Self.table(ceilings) }
    }
    /// The same as a short list: what every approval looks up (no hashing on the hot path).
    private var table: [(type: ActionType, currency: String, minor: Int64)]

    public init(ceilings: [ActionType: [String: Int64]] = Guardrails.defaultCeilings) {
        self.ceilings = ceilings
        self.table = Self.table(ceilings)
    }

    private static func table(_ ceilings: [ActionType: [String: Int64]]) -> [(type: ActionType, currency: String, minor: Int64)] {
        ceilings.flatMap { type, byCurrency in byCurrency.map { (type, $0.key, $0.value) } }
    }

    public static func == (a: Guardrails, b: Guardrails) -> Bool { a.ceilings == b.ceilings }
    public func hash(into hasher: inout Hasher) { hasher.combine(ceilings) }

    /// 10,000.00 per decision for credit memos and for refunds, in USD, EUR and GBP.
    public static let defaultCeilings: [ActionType: [String: Int64]] = [
        .creditMemo: ["USD": 1_000_000, "EUR": 1_000_000, "GBP": 1_000_000],
        .refund: ["USD": 1_000_000, "EUR": 1_000_000, "GBP": 1_000_000],
    ]

    /// Sets one ceiling from its flag form `TYPE=CURRENCY:MINOR` (`credit_memo=USD:1000000`);
    /// the error says what is wrong with it.
    public mutating func set(_ flag: String) throws(Refusal) {
        let parts = flag.split(separator: "=", maxSplits: 1).map(String.init)
        let value = parts.count == 2 ? parts[1].split(separator: ":", maxSplits: 1).map(String.init) : []
        guard parts.count == 2, value.count == 2 else {
            throw Refusal.invalid([FieldError("ceiling", "\(flag): expected TYPE=CURRENCY:MINOR, e.g. credit_memo=USD:1000000")])
        }
        guard let type = ActionType(rawValue: parts[0]), type.movesMoney else {
            throw Refusal.invalid([FieldError("ceiling", "\(flag): the type must be credit_memo or refund")])
        }
        guard Currency(value[0]) != nil else {
            throw Refusal.invalid([FieldError("ceiling", "\(flag): \(value[0]) is not an ISO 4217 currency code")])
        }
        guard let minor = Int64(value[1]), minor > 0, minor <= Money.maximumMinorUnits else {
            throw Refusal.invalid([FieldError("ceiling", "\(flag): the amount must be a positive integer of minor units")])
        }
        ceilings[type, default: [:]][value[0]] = minor
    }

    /// Reasons the actions break a ceiling (or move money no ceiling covers); empty when they
    /// are within limits.
    public func violations(_ actions: [ProposedAction]) -> [String] {
        // Totals per type and currency, in the order first seen (a decision has a few actions;
        // each amount is at most 10^15 - 1 and there are at most 32: no overflow).
        var totals: [(type: ActionType, currency: Currency, minor: Int64)] = []
        for action in actions {
            guard let money = action.money else { continue }
            if let i = totals.firstIndex(where: { $0.type == action.type && $0.currency == money.currency }) {
                totals[i].minor += money.amountMinor
            } else {
                totals.append((action.type, money.currency, money.amountMinor))
            }
        }
        var found: [String] = []
        for total in totals {
            let moved = Money(amountMinor: total.minor, currency: total.currency)
            guard let ceiling = table.first(where: { $0.type == total.type && $0.currency == total.currency.code })?.minor else {
                found.append("\(total.type.rawValue) of \(moved): no ceiling is configured for \(total.type.rawValue) in \(total.currency), so it is never approved without a reviewer")
                continue
            }
            if total.minor > ceiling {
                found.append("\(total.type.rawValue) of \(moved) in this decision exceeds the ceiling of \(Money(amountMinor: ceiling, currency: total.currency))")
            }
        }
        return found
    }
}

/// Combines the policies' verdicts: reject > review > approve; errors never approve.
public enum DecisionCombiner {
    /// - Parameters:
    ///   - results: the verdicts, in evaluation (priority) order.
    ///   - eventType: the event's type, for the no-policy rule.
    ///   - accountCurrency: actions moving money must use it when the account has one.
    public static func combine(_ results: [PolicyResult], eventType: EventType, accountCurrency: String?,
                               guardrails: Guardrails) -> Decision {
        guard !results.isEmpty else {
            if eventType.kind == .signal {
                return Decision(outcome: .recorded, queue: nil, reasons: [], actions: [], slaSeconds: nil, approvalsRequired: 0, policies: [])
            }
            return Decision(outcome: .review, queue: Queue.defaultReview,
                            reasons: ["no active policy decides \(eventType.rawValue) events"], actions: [],
                            slaSeconds: nil, approvalsRequired: 1, policies: [])
        }
        var results = results
        // Money must be in the account's currency: a mismatch is the policy's error.
        if let accountCurrency {
            for i in results.indices where results[i].error == nil {
                for action in results[i].actions {
                    guard let money = action.money, money.currency.code != accountCurrency else { continue }
                    results[i] = .failure(name: results[i].name, version: results[i].version,
                                          error: "action currency \(money.currency) does not match the account currency \(accountCurrency)",
                                          durationMicros: results[i].durationMicros, log: results[i].log)
                    break
                }
            }
        }
        var rejects = false, reviews = false, errors = false
        for result in results {
            switch result.outcome {
            case .reject: rejects = true
            case .review: reviews = true
            case .approve: break
            }
            if result.error != nil { errors = true }
        }
        if rejects {
            var reasons: [String] = []
            for result in results where result.outcome == .reject { reasons += result.reasons }
            return Decision(outcome: .reject, queue: nil, reasons: reasons, actions: [], slaSeconds: nil,
                            approvalsRequired: 0, policies: results)
        }
        var actions: [ProposedAction] = []
        for result in results { actions += result.actions }
        if reviews {
            var reasons: [String] = []
            var queue: String?
            var sla: Int64?
            var approvals = 1
            for result in results where result.outcome == .review {
                reasons += result.reasons
                if queue == nil { queue = result.queue }
                if let s = result.slaSeconds { sla = min(sla ?? s, s) }
                if let a = result.approvalsRequired { approvals = max(approvals, a) }
            }
            return Decision(outcome: .review, queue: errors ? Queue.policyErrors : (queue ?? Queue.defaultReview),
                            reasons: reasons, actions: actions, slaSeconds: sla, approvalsRequired: approvals, policies: results)
        }
        var reasons: [String] = []
        for result in results { reasons += result.reasons }
        let violations = guardrails.violations(actions)
        if !violations.isEmpty {
            return Decision(outcome: .review, queue: Queue.guardrail, reasons: violations + reasons, actions: actions,
                            slaSeconds: nil, approvalsRequired: 1, policies: results)
        }
        return Decision(outcome: .approve, queue: nil, reasons: reasons, actions: actions, slaSeconds: nil,
                        approvalsRequired: 0, policies: results)
    }
}
