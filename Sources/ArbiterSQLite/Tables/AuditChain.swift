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
