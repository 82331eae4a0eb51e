import ArbiterCore
import Foundation

/// What one escalation sweep did.
public struct SweepResult: Sendable, Hashable {
    public var expiredClaims = 0
    /// Escalated items by the queue they were in.
    public var escalated: [String: Int] = [:]

    public init() {}
}
