import ArbiterCore
import ArbiterPolicy
import Foundation

/// The result of a backtest.
public struct BacktestReport: Sendable {
    let tally: BacktestTally
    public let elapsed: Duration

    public var evaluated: Int { tally.evaluated }
    public var outcomeChanges: Int { tally.outcomeChanges }
    public var transitions: [String: Int] { tally.transitions }

    public var eventsPerSecond: Int {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return seconds > 0 ? Int(Double(tally.evaluated) / seconds) : 0
    }

    public var json: JSONValue {
        var money: [JSONValue] = []
        for (transition, byCurrency) in tally.moneyMoved.sorted(by: { $0.key < $1.key }) {
            for (code, minor) in byCurrency.sorted(by: { $0.key < $1.key }) {
                money.append(.object([
                    "transition": .string(transition), "currency": .string(code), "amount_minor": .int(minor),
                    "amount": Currency(code).map { .string(Money(amountMinor: minor, currency: $0).description) } ?? .null,
                ]))
            }
        }
        return .object([
            "evaluated": .int(Int64(tally.evaluated)), "outcome_changes": .int(Int64(tally.outcomeChanges)),
            "other_changes": .int(Int64(tally.otherChanges)),
            "unchanged": .int(Int64(tally.evaluated - tally.outcomeChanges - tally.otherChanges)),
            "transitions": .object(tally.transitions.mapValues { .int(Int64($0)) }),
            "money_moved": .array(money), "sample": .array(tally.sample.map(\.json)),
            "skipped": .int(Int64(tally.skipped)), "first_skip": tally.firstSkipText.map(JSONValue.string) ?? .null,
            "duration_ms": .int(elapsed.microseconds / 1000), "events_per_s": .int(Int64(eventsPerSecond)),
        ])
    }
}
