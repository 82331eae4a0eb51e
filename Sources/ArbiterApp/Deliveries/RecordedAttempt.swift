import ArbiterCore
import Foundation

/// What recording an attempt left the action as.
public struct RecordedAttempt: Sendable {
    public let status: String
    public let accountId: String
    public let createdAt: Date
    /// The line of this account may move on (delivered), or waits (retry), or is held (dead).
    public let nextAttemptAt: Date?

    public init(status: String, accountId: String, createdAt: Date, nextAttemptAt: Date?) {
        self.status = status
        self.accountId = accountId
        self.createdAt = createdAt
        self.nextAttemptAt = nextAttemptAt
    }
}
