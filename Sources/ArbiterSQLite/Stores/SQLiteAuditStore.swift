import ArbiterApp
import ArbiterCore
import Foundation
import GRDB

/// The audit trail in SQLite (`audit_log`, `audit_checkpoints`). Entries written outside a use
/// case's own unit of work go through the group committer (nil: a store that only reads, for
/// offline verification and exports).
public struct SQLiteAuditStore: AuditStore {
    let database: AppDatabase
    let committer: GroupCommitter?

    public init(database: AppDatabase, committer: GroupCommitter?) {
        self.database = database
        self.committer = committer
    }

    public func enqueue(_ entry: AuditDraft, failed: @escaping @Sendable (any Error) -> Void) {
        guard let committer else { return failed(ShuttingDown()) }
        committer.enqueue({ db, chain in try chain.append(db, entry) }, failed: failed)
    }

    public func append(_ entry: AuditDraft) async throws {
        if let committer {
            try await committer.submit { db, chain in try chain.append(db, entry) }
        } else {
            try await database.writer.write { db in
                var chain = try AuditChain(db)
                try chain.append(db, entry)
            }
        }
    }

    public func entries(_ filter: AuditFilter) async throws -> AuditPage {
        try await database.writer.read { db in try AuditLog.query(db, filter) }
    }

    public func verify() async throws -> AuditVerification {
        try await database.writer.read { db in try AuditLog.verify(db) }
    }

    public func takeCheckpoint(key: ExportSigningKey, now: Date) async throws -> AuditCheckpoint? {
        try await database.writer.write { db in try AuditCheckpoints.take(db, key: key, at: now) }
    }

    public func latestCheckpoint() async throws -> AuditCheckpoint? {
        try await database.writer.read { db in try AuditCheckpoints.latest(db) }
    }

    public func check(_ checkpoint: AuditCheckpoint) async throws -> String? {
        try await database.writer.read { db in try AuditCheckpoints.check(db, checkpoint) }
    }

    public func exportEntries(_ request: ExportRequest, _ row: @escaping @Sendable (ExportedAuditRow) throws -> Void) async throws {
        try await database.writer.read { db in try AuditExport.entries(db, request, row) }
    }

    public func exportDecisions(_ request: ExportRequest,
                                _ row: @escaping @Sendable ([String: JSONValue], AuditPosition?) throws -> Void) async throws {
        try await database.writer.read { db in try DecisionExport.rows(db, request, row) }
    }
}
