import ArbiterCore
import Foundation
import Logging
import PostgresNIO

/// Appends to the one audit chain every instance shares. In the caller's transaction it locks
/// the head row (`FOR UPDATE`), so concurrent appenders — in this process or another — take
/// their turn and each entry follows the previous one: no gap, no two entries with one `seq`.
/// Units of work append their entries last (``WorkUnit``), so the head is held only until the
/// commit, and every other lock (an account's, the keys') is taken before it.
enum PostgresAuditChain {
    static func append(_ drafts: [AuditDraft], on connection: PostgresConnection, logger: Logger) async throws {
        guard !drafts.isEmpty else { return }
        guard let head = try await connection.row("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE", logger) else {
            throw Refusal.conflict("the audit chain's head is missing")
        }
        var seq: Int64 = try head["seq"]
        var hash: String = try head["hash"]
        var seqs: [Int64] = [], ats: [String] = [], actors: [String] = [], kinds: [String] = [], subjects: [String] = []
        var correlations: [String] = [], hasCorrelation: [Bool] = [], data: [String] = [], previous: [String] = [], hashes: [String] = []
        for draft in drafts {
            let next = draft.hash(seq: seq + 1, prevHash: hash)
            seq += 1
            seqs.append(seq); ats.append(draft.at); actors.append(draft.actor); kinds.append(draft.kind); subjects.append(draft.subject)
            correlations.append(draft.correlationId ?? ""); hasCorrelation.append(draft.correlationId != nil)
            data.append(String(decoding: draft.dataJSON, as: UTF8.self)); previous.append(hash); hashes.append(next)
            hash = next
        }
        // One statement for the whole batch: the arrays side by side, a row per entry.
        try await connection.run("""
            INSERT INTO audit_log (seq, at, actor, kind, subject, correlation_id, data, prev_hash, hash)
            SELECT s, a, ac, k, su, CASE WHEN hc THEN c END, d, p, h
            FROM unnest(\(seqs)::bigint[], \(ats)::text[], \(actors)::text[], \(kinds)::text[], \(subjects)::text[],
                        \(correlations)::text[], \(hasCorrelation)::boolean[], \(data)::text[], \(previous)::text[],
                        \(hashes)::text[]) AS t(s, a, ac, k, su, c, hc, d, p, h)
            """, logger)
        try await connection.run("UPDATE audit_head SET seq = \(seq), hash = \(hash) WHERE id = 1", logger)
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
