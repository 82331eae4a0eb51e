import ArbiterCore
import Foundation

/// The outbox at a glance: actions by status, and when the oldest pending one was queued.
public struct OutboxDepth: Sendable, Hashable {
    public var byStatus: [String: Int]
    public var oldestPending: Date?

    public init(byStatus: [String: Int], oldestPending: Date?) {
        self.byStatus = byStatus
        self.oldestPending = oldestPending
    }
}
