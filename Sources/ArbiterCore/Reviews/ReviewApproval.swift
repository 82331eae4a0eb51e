import Foundation

/// One approval given on an item.
public struct ReviewApproval: Sendable, Hashable {
    public let reviewer: String
    /// The money this reviewer agreed to, in the item's currency (nil when the item moves no
    /// money, or money in several currencies: then it is approved whole).
    public let amountMinor: Int64?

    public init(reviewer: String, amountMinor: Int64?) {
        self.reviewer = reviewer
        self.amountMinor = amountMinor
    }
}
