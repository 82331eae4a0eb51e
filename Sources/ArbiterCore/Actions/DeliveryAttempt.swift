import Foundation

/// One attempt, as recorded.
public struct DeliveryAttempt: Sendable, Hashable {
    public var result: AttemptResult
    public var statusCode: Int?
    /// A network error or time-out, in words.
    public var error: String?
    /// The start of the ERP's answer (kept for dead letters: it says why).
    public var responseBody: String?
    public var duration: Duration

    public init(result: AttemptResult, statusCode: Int? = nil, error: String? = nil, responseBody: String? = nil,
                duration: Duration) {
        self.result = result
        self.statusCode = statusCode
        self.error = error
        self.responseBody = responseBody
        self.duration = duration
    }
}

extension AccountSnapshot {
    /// The account after the ERP confirmed an action: a suspension suspends, a reinstatement
    /// reactivates, entitlements follow grants and revocations. Nil when the action changes
    /// nothing here (money actions, unknown accounts, no-ops).
    public func applying(delivered type: ActionType, feature: String?) -> AccountSnapshot? {
        guard status != .unknown else { return nil }
        var next = self
        switch type {
        case .accountSuspension: next.status = .suspended
        case .accountReinstatement: next.status = .active
        case .entitlementGrant:
            guard let feature, !entitlements.contains(feature) else { return nil }
            next.entitlements.append(feature)
        case .entitlementRevoke:
            guard let feature, entitlements.contains(feature) else { return nil }
            next.entitlements.removeAll { $0 == feature }
        case .creditMemo, .refund:
            return nil
        }
        return next == self ? nil : next
    }
}

extension Duration {
    /// Whole microseconds (durations here are recorded as integers).
    public var microseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }
}
