import ArbiterCore

/// The hash-chained audit trail, as the use cases write to it outside their own units of work.
public protocol AuditStore: Sendable {
    /// Queues `entry` for the next unit of work without waiting: it is committed no later
    /// than anything submitted after this returns. `failed` hears of an error.
    func enqueue(_ entry: AuditDraft, failed: @escaping @Sendable (any Error) -> Void)
}
