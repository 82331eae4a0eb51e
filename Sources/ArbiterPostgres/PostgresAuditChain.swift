import ArbiterCore
import Foundation
import Logging
import PostgresNIO

/// Appends to the one audit chain every instance shares. In the caller's transaction it locks
/// the head row (`FOR UPDATE`), so concurrent appenders — in this process or another — take
/// their turn and each entry follows the previous one: no gap, no two entries with one `seq`.
/// Take any other lock (an account's) before the head, to avoid deadlocks.
enum PostgresAuditChain {
    @discardableResult
    static func append(_ connection: PostgresConnection, logger: Logger, actor: String, kind: String, subject: String,
                       correlationId: String? = nil, data: JSONValue = .object([:]), at: Date = Date()) async throws -> AuditEntry {
        var head: (seq: Int64, hash: String)?
        for try await (seq, hash) in try await connection.query("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
                                                                logger: logger).decode((Int64, String).self) {
            head = (seq, hash)
        }
        guard let head else { throw Refusal.conflict("the audit chain's head is missing") }
        let entry = AuditEntry.make(seq: head.seq + 1, at: Timestamp.format(at), actor: actor, kind: kind, subject: subject,
                                    correlationId: correlationId, data: data, prevHash: head.hash)
        let dataText = CanonicalJSON.string(entry.data)
        try await connection.query("""
            INSERT INTO audit_log (seq, at, actor, kind, subject, correlation_id, data, prev_hash, hash)
            VALUES (\(entry.seq), \(entry.at), \(entry.actor), \(entry.kind), \(entry.subject), \(entry.correlationId), \(dataText),
                    \(entry.prevHash), \(entry.hash))
            """, logger: logger)
        try await connection.query("UPDATE audit_head SET seq = \(entry.seq), hash = \(entry.hash) WHERE id = 1", logger: logger)
        return entry
    }

    /// Recomputes the whole chain, oldest first.
    static func verify(_ client: PostgresClient, logger: Logger) async throws -> AuditVerification {
        var verifier = AuditChainVerifier()
        let rows = try await client.query("""
            SELECT seq, at, actor, kind, subject, correlation_id, data, prev_hash, hash FROM audit_log ORDER BY seq
            """, logger: logger)
        for try await (seq, at, actor, kind, subject, correlationId, data, prevHash, hash)
            in rows.decode((Int64, String, String, String, String, String?, String, String, String).self) {
            let entry = AuditEntry(seq: seq, at: at, actor: actor, kind: kind, subject: subject, correlationId: correlationId,
                                   data: try JSONValue.parse(Data(data.utf8)), prevHash: prevHash, hash: hash)
            if !verifier.check(entry) { break }
        }
        return verifier.result
    }
}
