import ArbiterCore
import Foundation
import GRDB

/// The append-only, hash-chained audit trail.
public enum AuditLog {
    /// Appends an entry in the caller's transaction, chaining it to the last one. GRDB
    /// serialises writes, so two appends can never claim the same `seq`.
    public static func append(_ db: Database, actor: String, kind: String, subject: String, correlationId: String? = nil,
                              data: JSONValue = .object([:]), at: Date = Date()) throws {
        try append(db, actor: actor, kind: kind, subject: subject, correlationId: correlationId,
                   dataJSON: CanonicalJSON.encode(data), at: at)
    }

    /// Appends an entry whose data is already canonical JSON (it is stored and hashed as given).
    public static func append(_ db: Database, actor: String, kind: String, subject: String, correlationId: String?,
                              dataJSON: [UInt8], at: Date) throws {
        // Read the chain's end in the caller's transaction: entries appended earlier in the same
        // transaction (a group commit writes many events) are seen, so the chain stays linear.
        let last = try Row.fetchOne(db.cachedStatement(sql: "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"))
        let seq: Int64 = (last?["seq"] ?? 0) + 1
        let prevHash: String = last?["hash"] ?? AuditEntry.genesisHash
        let time = Timestamp.format(at)
        let hash = AuditEntry.hash(prevHash: prevHash, seq: seq, at: time, actor: actor, kind: kind, subject: subject,
                                   correlationId: correlationId, dataJSON: dataJSON)
        try db.cachedStatement(sql: """
                INSERT INTO audit_log (seq, at, actor, kind, subject, correlation_id, data, prev_hash, hash)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [seq, time, actor, kind, subject, correlationId,
                                         String(decoding: dataJSON, as: UTF8.self), prevHash, hash])
    }

    /// Reads a stored row back as an entry. Data that is not JSON reads as its raw text, so a
    /// tampered row fails verification instead of stopping it.
    static func entry(_ row: Row) -> AuditEntry {
        let text: String = row["data"] ?? ""
        let data = (try? JSONValue.parse(Data(text.utf8))) ?? .string(text)
        return AuditEntry(seq: row["seq"], at: row["at"], actor: row["actor"], kind: row["kind"], subject: row["subject"],
                          correlationId: row["correlation_id"], data: data, prevHash: row["prev_hash"], hash: row["hash"])
    }

    /// Recomputes the whole chain, streaming rows in order.
    public static func verify(_ db: Database) throws -> AuditVerification {
        var verifier = AuditChainVerifier()
        let rows = try Row.fetchCursor(db, sql: "SELECT seq, at, actor, kind, subject, correlation_id, data, prev_hash, hash FROM audit_log ORDER BY seq")
        while let row = try rows.next() {
            if !verifier.check(entry(row)) { break }
        }
        return verifier.result
    }

    /// Entries after `afterSeq`, oldest first.
    public static func entries(_ db: Database, afterSeq: Int64 = 0, limit: Int = 100) throws -> [AuditEntry] {
        try Row.fetchAll(db, sql: "SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [afterSeq, limit]).map(entry)
    }
}

extension AppDatabase {
    public func verifyAudit() async throws -> AuditVerification {
        try await writer.read { db in try AuditLog.verify(db) }
    }
}
