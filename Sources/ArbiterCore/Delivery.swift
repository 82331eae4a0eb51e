import Foundation

/// How the outbox delivers: retry limits and the shape of the backoff.
public struct DeliverySettings: Sendable, Hashable {
    /// Attempts before an action is dead-lettered (the first one included).
    public var maxAttempts: Int
    /// The delay after the first failed attempt; doubled after each further one.
    public var baseDelay: Duration
    /// No retry waits longer than this (a Retry-After included).
    public var maxDelay: Duration
    /// One HTTP attempt may take this long before it counts as a time-out.
    public var timeout: Duration
    /// Accounts delivered in parallel (each account strictly in order).
    public var concurrency: Int

    public init(maxAttempts: Int = 12, baseDelay: Duration = .seconds(1), maxDelay: Duration = .seconds(600),
                timeout: Duration = .seconds(10), concurrency: Int = 64) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.timeout = timeout
        self.concurrency = concurrency
    }

    /// The wait before attempt `failures + 1`: exponential (base × 2^(failures-1)), capped, with
    /// "equal jitter" (between half and all of it) so a recovering ERP is not hit by every
    /// account at the same instant.
    public func backoff(afterFailures failures: Int, random: Double = Double.random(in: 0...1)) -> Duration {
        let exponent = min(max(failures - 1, 0), 30)
        let full = min(baseDelay * (1 << exponent), maxDelay)
        return full / 2 + full / 2 * random
    }
}

/// What one attempt to hand an action to the ERP came to.
public enum AttemptResult: Sendable, Hashable {
    /// The ERP has it (2xx, or 409 for a key it already has), with its document reference if it sent one.
    case delivered(reference: String?)
    /// Worth trying again (408, 429, 5xx, time-out, refused or reset connection); `after` is the
    /// ERP's own Retry-After when it sent one.
    case retry(after: Duration?)
    /// The ERP refused it for good (other 4xx): retrying would not help.
    case rejected

    /// Classifies an HTTP response by status code.
    public static func http(status: Int, reference: String?, retryAfter: Duration?) -> AttemptResult {
        switch status {
        case 200..<300, 409: .delivered(reference: reference)
        case 408, 429, 500..<600: .retry(after: retryAfter)
        default: .rejected
        }
    }
}

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
