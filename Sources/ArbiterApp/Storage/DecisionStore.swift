import ArbiterCore
import ArbiterPolicy
import Foundation

/// Events and their decisions as the intake and readers need them stored.
///
/// The intake's guarantee lives behind this protocol: one account's decisions are made one
/// at a time, each seeing every earlier one, so a cumulative cap cannot be raced past. A
/// backend serving one process serialises in memory; one shared by several instances must
/// serialise across them (an advisory lock per account, say).
public protocol DecisionStore: Sendable {
    /// Runs `body` while no other decision for the account is being made.
    func serializing<T: Sendable>(account accountId: String, _ body: () async throws -> T) async throws -> T

    /// Reads the account's context as of `now` and runs `evaluate` with it on the policy
    /// workers (the quarantine lane when `quarantined`). A backend that can read from a worker
    /// thread does both in one hop: a decision then costs one thread switch, not two.
    func evaluate<T: Sendable>(account accountId: String, now: Date, workers: PolicyWorkers, quarantined: Bool,
                               _ evaluate: @escaping @Sendable (PolicyContext) -> T) async throws -> T

    /// Stores one decided event as a unit of work: the event, the decision, its review item or
    /// outbox actions, the account change a signal makes, the audit entries. Inside it,
    /// `record` is called with the account's context as it is now and returns what to store,
    /// or nil to store nothing (the context moved since the policies read it: the caller
    /// decides again). Units are committed in the order they are submitted, several per commit.
    func record(account accountId: String, now: Date,
                _ record: @escaping @Sendable (PolicyContext) throws -> DecisionRecord?) async throws -> RecordOutcome

    func event(id: String) async throws -> StoredEvent?
    func decision(id: String) async throws -> StoredDecision?
    /// Decisions oldest first, one page.
    func decisions(_ filter: DecisionFilter) async throws -> Page<StoredDecision>
    /// Decisions made since `since` (RFC 3339 as stored) counted per hour (`2026-12-05T11`, UTC)
    /// and outcome, hours in order.
    func outcomesByHour(since: String) async throws -> [HourlyOutcomes]
}

/// How many decisions of each outcome an hour saw.
public struct HourlyOutcomes: Sendable, Hashable {
    /// The hour as the first 13 characters of its RFC 3339 time: `2026-12-05T11`.
    public var hour: String
    public var counts: [String: Int]

    public init(hour: String, counts: [String: Int]) {
        self.hour = hour
        self.counts = counts
    }

    /// Rows of (hour, outcome, count) grouped by hour, in order.
    public static func group(_ rows: [(hour: String, outcome: String, count: Int)]) -> [HourlyOutcomes] {
        var hours: [String: [String: Int]] = [:]
        for row in rows { hours[row.hour, default: [:]][row.outcome, default: 0] += row.count }
        return hours.keys.sorted().map { HourlyOutcomes(hour: $0, counts: hours[$0] ?? [:]) }
    }
}
