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
