import Foundation

/// What a permitted command does to an item.
public struct ReviewTransition: Sendable, Hashable {
    public var state: ReviewState
    public var claimedBy: String?
    public var claimExpiresAt: Date?
    /// Set for an approval: the money it agrees to.
    public var approval: ReviewApproval?
    /// Set on the final approval: the actions that go to the outbox (amounts scaled down when
    /// a reviewer approved less than proposed).
    public var approvedActions: [JSONValue]?
    /// The money approved, when the item moves money in one currency.
    public var approvedAmountMinor: Int64?
}
