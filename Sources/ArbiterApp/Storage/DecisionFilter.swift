import ArbiterCore
import ArbiterPolicy
import Foundation

/// Filters for listing decisions. Times compare as stored (normalized UTC text).
public struct DecisionFilter: Sendable {
    public var accountId: String?
    public var outcome: DecisionOutcome?
    public var from: Date?
    public var to: Date?
    /// The last decision id of the previous page.
    public var after: String?
    public var limit: Int

    public init(accountId: String? = nil, outcome: DecisionOutcome? = nil, from: Date? = nil, to: Date? = nil,
                after: String? = nil, limit: Int = 50) {
        self.accountId = accountId
        self.outcome = outcome
        self.from = from
        self.to = to
        self.after = after
        self.limit = limit
    }
}
