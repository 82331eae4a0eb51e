/// The financial and account actions a decision can send to the ERP.
public enum ActionType: String, Sendable, Codable, CaseIterable {
    case creditMemo = "credit_memo"
    case refund
    case accountSuspension = "account_suspension"
    case accountReinstatement = "account_reinstatement"
    case entitlementGrant = "entitlement_grant"
    case entitlementRevoke = "entitlement_revoke"

    /// Whether the action moves money (and so needs `amount_minor` and `currency`).
    public var movesMoney: Bool { self == .creditMemo || self == .refund }

    /// Whether the action needs a `feature`.
    public var needsFeature: Bool { self == .entitlementGrant || self == .entitlementRevoke }
}
