import ArbiterCore
import Foundation

/// What auditors do with the trail: read it, have the service recompute it, and get the
/// newest signed checkpoint of its head (to keep outside the service).
public struct AuditTrail: Sendable {
    let store: any AuditStore

    public init(store: any AuditStore) {
        self.store = store
    }

    public func entries(_ filter: AuditFilter) async throws -> AuditPage { try await store.entries(filter) }

    public func verify() async throws -> AuditVerification { try await store.verify() }

    public func latestCheckpoint() async throws -> AuditCheckpoint {
        guard let checkpoint = try await store.latestCheckpoint() else {
            throw Refusal.notFound("no checkpoint yet: the audit log is empty")
        }
        return checkpoint
    }

    /// Signs the head if it moved since the newest checkpoint.
    public func takeCheckpoint(key: ExportSigningKey, now: Date = Date()) async throws -> AuditCheckpoint? {
        try await store.takeCheckpoint(key: key, now: now)
    }

    /// Nil when the trail still holds the checkpointed entry; else why not.
    public func check(_ checkpoint: AuditCheckpoint) async throws -> String? { try await store.check(checkpoint) }
}
