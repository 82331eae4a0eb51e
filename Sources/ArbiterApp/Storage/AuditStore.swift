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

/// An entry's place in the chain.
public struct AuditPosition: Sendable, Hashable {
    public var seq: Int64
    public var hash: String

    public init(seq: Int64, hash: String) {
        self.seq = seq
        self.hash = hash
    }
}

/// An audit entry as an export copies it: `data` exactly as stored (canonical JSON text).
public struct ExportedAuditRow: Sendable {
    public var seq: Int64
    public var at: String
    public var actor: String
    public var kind: String
    public var subject: String
    public var correlationId: String?
    public var data: String
    public var prevHash: String
    public var hash: String

    public init(seq: Int64, at: String, actor: String, kind: String, subject: String, correlationId: String?, data: String,
                prevHash: String, hash: String) {
        self.seq = seq
        self.at = at
        self.actor = actor
        self.kind = kind
        self.subject = subject
        self.correlationId = correlationId
        self.data = data
        self.prevHash = prevHash
        self.hash = hash
    }
}

/// Which entries ``AuditStore/entries(_:)`` returns: after `afterSeq`, oldest first, at most
/// `limit`, each filter exact when given.
public struct AuditFilter: Sendable {
    public var afterSeq: Int64 = 0
    public var limit = 100
    public var kind: String?
    public var actor: String?
    public var subject: String?
    public var correlationId: String?

    public init() {}
}

/// A page of entries and the cursor (`after_seq`) of the next page, nil on the last.
public struct AuditPage: Sendable {
    public var entries: [AuditEntry]
    public var next: Int64?

    public init(entries: [AuditEntry], next: Int64?) {
        self.entries = entries
        self.next = next
    }
}
