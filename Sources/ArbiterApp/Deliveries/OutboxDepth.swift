import ArbiterCore
import Foundation

/// The outbox at a glance: actions by status, and when the oldest pending one was queued — in
/// all and for each target (the ERP, billing, answers…).
public struct OutboxDepth: Sendable, Hashable {
    public struct Target: Sendable, Hashable {
        public var byStatus: [String: Int]
        public var oldestPending: Date?

        public init(byStatus: [String: Int] = OutboxDepth.zero, oldestPending: Date? = nil) {
            self.byStatus = byStatus
            self.oldestPending = oldestPending
        }
    }

    public static let zero: [String: Int] = ["pending": 0, "delivered": 0, "dead": 0, "cancelled": 0]

    public var byStatus: [String: Int]
    public var oldestPending: Date?
    public var byTarget: [String: Target]

    public init(byStatus: [String: Int], oldestPending: Date?, byTarget: [String: Target] = [:]) {
        self.byStatus = byStatus
        self.oldestPending = oldestPending
        self.byTarget = byTarget
    }

    /// From counts per target and status, with the oldest pending action's time of each target.
    public init(rows: [(target: String, status: String, count: Int, oldestPending: String?)]) {
        var byStatus = Self.zero
        var byTarget: [String: Target] = [:]
        var oldest: Date?
        for row in rows {
            byStatus[row.status, default: 0] += row.count
            byTarget[row.target, default: Target()].byStatus[row.status, default: 0] += row.count
            if let pending = row.oldestPending.flatMap(Timestamp.parse) {
                let earlier = byTarget[row.target]?.oldestPending ?? pending
                byTarget[row.target]?.oldestPending = min(earlier, pending)
                oldest = min(oldest ?? pending, pending)
            }
        }
        self.init(byStatus: byStatus, oldestPending: oldest, byTarget: byTarget)
    }
}
