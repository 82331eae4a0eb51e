import ArbiterCore
import Foundation

/// The hash-chained audit trail: what auditors read and export, the signed checkpoints of its
/// head, and entries use cases write outside their own units of work.
public protocol AuditStore: Sendable {
    /// Queues `entry` for the next unit of work without waiting: it is committed no later
    /// than anything submitted after this returns. `failed` hears of an error.
    func enqueue(_ entry: AuditDraft, failed: @escaping @Sendable (any Error) -> Void)

    /// Appends `entry` and returns once it is durable.
    func append(_ entry: AuditDraft) async throws

    /// A page of entries, oldest first.
    func entries(_ filter: AuditFilter) async throws -> AuditPage

    /// Recomputes the whole chain.
    func verify() async throws -> AuditVerification

    /// Signs the chain's head with `key` and keeps the checkpoint, unless the newest one
    /// already covers it. Nil while the chain is empty or the head has not moved.
    func takeCheckpoint(key: ExportSigningKey, now: Date) async throws -> AuditCheckpoint?

    /// The newest checkpoint taken.
    func latestCheckpoint() async throws -> AuditCheckpoint?

    /// Whether the chain still holds the checkpointed entry with the checkpointed hash; nil
    /// when it does, else why not.
    func check(_ checkpoint: AuditCheckpoint) async throws -> String?

    /// Streams the entries an audit export covers (`at` in [from, to), the filters), in `seq`
    /// order, from one consistent snapshot.
    func exportEntries(_ request: ExportRequest, _ row: @escaping @Sendable (ExportedAuditRow) throws -> Void) async throws

    /// Streams the decisions a decision export covers (`decided_at` in [from, to), the
    /// filters), oldest first, from one consistent snapshot: each as the export row's fields
    /// (``DecisionExportRow``, before masking) with its `decision.made` audit entry.
    func exportDecisions(_ request: ExportRequest,
                         _ row: @escaping @Sendable (_ fields: [String: JSONValue], _ audit: AuditPosition?) throws -> Void) async throws
}
