import Foundation

/// A review item as the rules need it.
public struct ReviewItem: Sendable, Hashable {
    public var id: String
    public var queue: String
    public var state: ReviewState
    public var submittedBy: String
    public var approvalsRequired: Int
    public var approvals: [ReviewApproval]
    public var claimedBy: String?
    public var claimExpiresAt: Date?
    public var escalatedAt: Date?
    /// The actions the policies proposed (with their ids), as decided.
    public var proposedActions: [JSONValue]

    public init(id: String, queue: String, state: ReviewState, submittedBy: String, approvalsRequired: Int,
                approvals: [ReviewApproval], claimedBy: String?, claimExpiresAt: Date?, escalatedAt: Date?,
                proposedActions: [JSONValue]) {
        self.id = id
        self.queue = queue
        self.state = state
        self.submittedBy = submittedBy
        self.approvalsRequired = approvalsRequired
        self.approvals = approvals
        self.claimedBy = claimedBy
        self.claimExpiresAt = claimExpiresAt
        self.escalatedAt = escalatedAt
        self.proposedActions = proposedActions
    }

    /// The reviewer holding a live claim at `now`; nil when unclaimed or the claim expired.
    public func claimant(at now: Date) -> String? {
        guard state == .claimed, let claimedBy, let expires = claimExpiresAt, expires > now else { return nil }
        return claimedBy
    }

    /// The state an unclaimed waiting item is in.
    public var unclaimedState: ReviewState { escalatedAt == nil ? .open : .escalated }

    /// The money the proposed actions move, by currency, in minor units (empty when none).
    public var proposedMoney: [String: Int64] {
        var totals: [String: Int64] = [:]
        for action in proposedActions where Self.movesMoney(action) {
            totals[action["currency"]?.stringValue ?? "", default: 0] += action["amount_minor"]?.intValue ?? 0
        }
        return totals
    }

    /// The money proposed when it is in one currency (nil when none, or several).
    public var proposedMoneyMinor: Int64? {
        let money = proposedMoney
        return money.count == 1 ? money.first?.value : nil
    }

    /// An amount as people read it ("1500.00 USD").
    public static func describe(_ minor: Int64, _ code: String) -> String {
        guard let currency = Currency(code) else { return "\(minor) \(code) (minor units)" }
        return Money(amountMinor: minor, currency: currency).description
    }

    static func movesMoney(_ action: JSONValue) -> Bool {
        action["type"]?.stringValue.flatMap(ActionType.init(rawValue:))?.movesMoney ?? false
    }
}
