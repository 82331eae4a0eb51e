import ArbiterApp
import ArbiterCore
import Foundation
import PostgresNIO

/// The audit trail in PostgreSQL: one chain for every instance (``PostgresAuditChain``).
/// Entries written outside a use case's own unit of work go through the group committer (nil:
/// a store that only reads, for offline verification).
struct PostgresAuditStore: AuditStore {
    let backend: PostgresBackend
    let committer: PostgresCommitter?

    func enqueue(_ entry: AuditDraft, failed: @escaping @Sendable (any Error) -> Void) {
        guard let committer else { return failed(ShuttingDown()) }
        committer.enqueue({ unit in unit.audit(entry) }, failed: failed)
    }

    func append(_ entry: AuditDraft) async throws {
        guard let committer else {
            try await backend.transaction { unit in unit.audit(entry) }
            return
        }
        try await committer.submit(accounts: []) { unit in unit.audit(entry) }
    }

    func entries(_ filter: AuditFilter) async throws -> AuditPage {
        try await backend.read { unit in try await PGAuditTrail.query(unit, filter) }
    }

    func verify() async throws -> AuditVerification {
        try await backend.snapshot { unit in try await PGAuditTrail.verify(unit) }
    }

    func takeCheckpoint(key: ExportSigningKey, now: Date) async throws -> AuditCheckpoint? {
        try await backend.transaction { unit in try await PGAuditTrail.takeCheckpoint(unit, key: key, now: now) }
    }

    func latestCheckpoint() async throws -> AuditCheckpoint? {
        try await backend.read { unit in try await PGAuditTrail.latestCheckpoint(unit) }
    }

    func check(_ checkpoint: AuditCheckpoint) async throws -> String? {
        try await backend.read { unit in try await PGAuditTrail.check(unit, checkpoint) }
    }

    func exportEntries(_ request: ExportRequest, _ row: @escaping @Sendable (ExportedAuditRow) throws -> Void) async throws {
        try await backend.snapshot { unit in try await PGAuditTrail.exportEntries(unit, request, row) }
    }

    func exportDecisions(_ request: ExportRequest,
                         _ row: @escaping @Sendable ([String: JSONValue], AuditPosition?) throws -> Void) async throws {
        try await backend.snapshot { unit in try await PGAuditTrail.exportDecisions(unit, request, row) }
    }
}
