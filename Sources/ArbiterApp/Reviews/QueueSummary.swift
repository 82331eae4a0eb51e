import ArbiterCore
import Foundation

/// A queue's waiting items at a glance.
public struct QueueSummary: Sendable, Hashable {
    public let name: String
    public var open = 0
    public var claimed = 0
    public var escalated = 0
    public var overdue = 0
    public var oldestCreatedAt: Date?

    public var waiting: Int { open + claimed + escalated }

    public init(name: String) {
        self.name = name
    }
}
