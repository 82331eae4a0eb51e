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
