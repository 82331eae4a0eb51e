import ArbiterApp
import ArbiterCore
import Foundation
import GRDB

/// The end of the audit chain within one write transaction. A group commit appends many
/// entries: reading the chain's end once and carrying it forward saves a query per entry.
/// Everything appended in the transaction must go through the same chain value; it is only
/// valid until the transaction ends.
public struct AuditChain {
    public private(set) var lastSeq: Int64
    public private(set) var lastHash: String

    /// Reads the chain's end in the caller's transaction.
    public init(_ db: Database) throws {
        let last = try Row.fetchOne(db.cachedStatement(sql: "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"))
        lastSeq = last?["seq"] ?? 0
        lastHash = last?["hash"] ?? AuditEntry.genesisHash
    }

    /// Appends a prepared entry: the next `seq`, chained to the last hash.
    public mutating func append(_ db: Database, _ draft: AuditDraft) throws {
        let seq = lastSeq + 1
        let hash = draft.hash(seq: seq, prevHash: lastHash)
        try db.cachedStatement(sql: """
                INSERT INTO audit_log (seq, at, actor, kind, subject, correlation_id, data, prev_hash, hash)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [seq, draft.at, draft.actor, draft.kind, draft.subject, draft.correlationId,
                                         String(decoding: draft.dataJSON, as: UTF8.self), lastHash, hash])
        lastSeq = seq
        lastHash = hash
    }

    public mutating func append(_ db: Database, actor: String, kind: String, subject: String, correlationId: String? = nil,
                                data: JSONValue, at: Date) throws {
        try append(db, AuditDraft(actor: actor, kind: kind, subject: subject, correlationId: correlationId,
                                  at: Timestamp.format(at), dataJSON: CanonicalJSON.encode(data)))
    }
}

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

/// Signed checkpoints of the audit chain's head (``AuditCheckpoint``).
public enum AuditCheckpoints {
    /// Signs the chain's head and keeps it, unless the newest checkpoint already covers it.
    /// Returns the new checkpoint (nil while the chain is empty or the head has not moved).
    @discardableResult
    public static func take(_ db: Database, key: ExportSigningKey, at now: Date = Date()) throws -> AuditCheckpoint? {
        let chain = try AuditChain(db)
        guard chain.lastSeq > 0 else { return nil }
        if let latest = try latest(db), latest.seq == chain.lastSeq, latest.hash == chain.lastHash { return nil }
        let checkpoint = try AuditCheckpoint.sign(seq: chain.lastSeq, hash: chain.lastHash, at: now, key: key)
        try db.execute(sql: "INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) VALUES (?, ?, ?, ?, ?)",
                       arguments: [checkpoint.seq, checkpoint.hash, checkpoint.at, checkpoint.keyId, checkpoint.signature])
        return checkpoint
    }

    /// The newest checkpoint taken.
    public static func latest(_ db: Database) throws -> AuditCheckpoint? {
        try Row.fetchOne(db, sql: "SELECT seq, hash, at, key_id, signature FROM audit_checkpoints ORDER BY id DESC LIMIT 1").map {
            AuditCheckpoint(seq: $0["seq"], hash: $0["hash"], at: $0["at"], keyId: $0["key_id"], signature: $0["signature"])
        }
    }

    /// Whether the chain still holds the checkpointed entry with the checkpointed hash; why not.
    public static func check(_ db: Database, _ checkpoint: AuditCheckpoint) throws -> String? {
        let stored = try String.fetchOne(db, sql: "SELECT hash FROM audit_log WHERE seq = ?", arguments: [checkpoint.seq])
        guard let stored else {
            let last = try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM audit_log") ?? 0
            return "the audit log no longer holds entry \(checkpoint.seq) (checkpointed at \(checkpoint.at)); it ends at entry \(last): entries were removed from its end"
        }
        guard stored == checkpoint.hash else {
            return "entry \(checkpoint.seq) no longer has the hash checkpointed at \(checkpoint.at) (\(checkpoint.hash)); it has \(stored)"
        }
        return nil
    }
}
