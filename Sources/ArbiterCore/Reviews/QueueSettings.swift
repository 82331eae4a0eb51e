import Foundation

/// How a queue is worked: its default SLA, where overdue items go, and when two reviewers are
/// needed. Read from the queue configuration (`queues.json`); a queue nobody configured uses
/// ``ReviewSettings/defaultQueue``.
public struct QueueSettings: Sendable, Hashable {
    /// The SLA of items whose policy set none.
    public var slaSeconds: Int64?
    /// The queue overdue items move to (escalated in place when nil).
    public var escalateTo: String?
    /// Items proposing more money than this (minor units, all money actions together) need at
    /// least two distinct approvals, whatever the policy said.
    public var twoApprovalsOverMinor: Int64?

    public init(slaSeconds: Int64? = nil, escalateTo: String? = nil, twoApprovalsOverMinor: Int64? = nil) {
        self.slaSeconds = slaSeconds
        self.escalateTo = escalateTo
        self.twoApprovalsOverMinor = twoApprovalsOverMinor
    }
}
