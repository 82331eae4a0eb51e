import ArbiterApp
import ArbiterCore
import Foundation
import GRDB

/// The append-only, hash-chained audit trail.
public enum AuditLog {
    /// Appends an entry in the caller's transaction, chaining it to the last one. GRDB
    /// serialises writes, so two appends can never claim the same `seq`.
    public static func append(_ db: Database, actor: String, kind: String, subject: String, correlationId: String? = nil,
                              data: JSONValue = .object([:]), at: Date = Date()) throws {
        var chain = try AuditChain(db)
        try chain.append(db, actor: actor, kind: kind, subject: subject, correlationId: correlationId, data: data, at: at)
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

    /// A page of entries and the cursor (`after_seq`) of the next page, nil on the last.
    public static func query(_ db: Database, _ filter: AuditFilter) throws -> AuditPage {
        var conditions = ["seq > ?"]
        var arguments: StatementArguments = [filter.afterSeq]
        for (column, value) in [("kind", filter.kind), ("actor", filter.actor), ("subject", filter.subject),
                                ("correlation_id", filter.correlationId)] {
            guard let value else { continue }
            conditions.append("\(column) = ?")
            arguments += [value]
        }
        if let from = filter.from { conditions.append("at >= ?"); arguments += [from] }
        if let to = filter.to { conditions.append("at < ?"); arguments += [to] }
        arguments += [filter.limit]
        let entries = try Row.fetchAll(db, sql: "SELECT * FROM audit_log WHERE \(conditions.joined(separator: " AND ")) ORDER BY seq LIMIT ?",
                                       arguments: arguments).map(entry)
        return AuditPage(entries: entries, next: entries.count == filter.limit ? entries.last?.seq : nil)
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
