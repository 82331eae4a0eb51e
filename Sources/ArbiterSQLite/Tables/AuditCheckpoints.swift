import ArbiterApp
import ArbiterCore
import Foundation
import GRDB

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
