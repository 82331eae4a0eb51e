import ArbiterApp
import ArbiterCore
import Foundation
import PostgresNIO

/// Reading the audit chain: pages, checkpoints, and the rows of exports (the embedded store's
/// `AuditLog`, `AuditCheckpoints`, `AuditExport` and `DecisionExport`).
enum PGAuditTrail {
    static func entry(_ row: Row) throws -> AuditEntry {
        AuditEntry(seq: try row["seq"], at: try row["at"], actor: try row["actor"], kind: try row["kind"], subject: try row["subject"],
                   correlationId: try row["correlation_id"], data: StoredJSON.value(try row["data"]), prevHash: try row["prev_hash"],
                   hash: try row["hash"])
    }

    static func query(_ unit: WorkUnit, _ filter: AuditFilter) async throws -> AuditPage {
        var sql = SQL("SELECT * FROM audit_log")
        var conditions = ["seq > \(sql.bind(filter.afterSeq))"]
        for (column, value) in [("kind", filter.kind), ("actor", filter.actor), ("subject", filter.subject),
                                ("correlation_id", filter.correlationId)] {
            guard let value else { continue }
            conditions.append("\(column) = \(sql.bind(value))")
        }
        if let from = filter.from { conditions.append("at >= \(sql.bind(from))") }
        if let to = filter.to { conditions.append("at < \(sql.bind(to))") }
        sql.append(" WHERE \(conditions.joined(separator: " AND ")) ORDER BY seq LIMIT \(sql.bind(Int64(filter.limit)))")
        let entries = try await unit.rows(sql.query).map(entry)
        return AuditPage(entries: entries, next: entries.count == filter.limit ? entries.last?.seq : nil)
    }

    static func verify(_ unit: WorkUnit) async throws -> AuditVerification {
        var verifier = AuditChainVerifier()
        let rows = try await unit.connection.query("""
            SELECT seq, at, actor, kind, subject, correlation_id, data, prev_hash, hash FROM audit_log ORDER BY seq
            """, logger: unit.logger)
        for try await row in rows {
            if !verifier.check(try entry(Row(cells: row.makeRandomAccess()))) { break }
        }
        return verifier.result
    }

    // MARK: Checkpoints

    static func takeCheckpoint(_ unit: WorkUnit, key: ExportSigningKey, now: Date) async throws -> AuditCheckpoint? {
        // The head locked: checkpoints from two instances do not both sign the same head.
        guard let head = try await unit.row("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE") else { return nil }
        let seq: Int64 = try head["seq"], hash: String = try head["hash"]
        guard seq > 0 else { return nil }
        if let latest = try await latestCheckpoint(unit), latest.seq == seq, latest.hash == hash { return nil }
        let checkpoint = try AuditCheckpoint.sign(seq: seq, hash: hash, at: now, key: key)
        try await unit.run("""
            INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature)
            VALUES (\(checkpoint.seq), \(checkpoint.hash), \(checkpoint.at), \(checkpoint.keyId), \(checkpoint.signature))
            """)
        return checkpoint
    }

    static func latestCheckpoint(_ unit: WorkUnit) async throws -> AuditCheckpoint? {
        try await unit.row("SELECT seq, hash, at, key_id, signature FROM audit_checkpoints ORDER BY id DESC LIMIT 1").map {
            AuditCheckpoint(seq: try $0["seq"], hash: try $0["hash"], at: try $0["at"], keyId: try $0["key_id"],
                            signature: try $0["signature"])
        }
    }

    static func check(_ unit: WorkUnit, _ checkpoint: AuditCheckpoint) async throws -> String? {
        guard let stored = try await unit.value("SELECT hash FROM audit_log WHERE seq = \(checkpoint.seq)", as: String.self) else {
            let last = try await unit.value("SELECT MAX(seq) FROM audit_log", as: Int64.self) ?? 0
            return "the audit log no longer holds entry \(checkpoint.seq) (checkpointed at \(checkpoint.at)); it ends at entry \(last): entries were removed from its end"
        }
        guard stored == checkpoint.hash else {
            return "entry \(checkpoint.seq) no longer has the hash checkpointed at \(checkpoint.at) (\(checkpoint.hash)); it has \(stored)"
        }
        return nil
    }

    // MARK: Exports

    static func exportEntries(_ unit: WorkUnit, _ request: ExportRequest, _ body: (ExportedAuditRow) throws -> Void) async throws {
        var sql = SQL("SELECT seq, at, actor, kind, subject, correlation_id, data, prev_hash, hash FROM audit_log")
        var conditions = ["at >= \(sql.bind(Timestamp.format(request.from)))", "at < \(sql.bind(Timestamp.format(request.to)))"]
        if let actor = request.filters.actor { conditions.append("actor = \(sql.bind(actor))") }
        if let kind = request.filters.kind { conditions.append("kind = \(sql.bind(kind))") }
        sql.append(" WHERE \(conditions.joined(separator: " AND ")) ORDER BY seq")
        let rows = try await unit.connection.query(sql.query, logger: unit.logger)
        for try await (seq, at, actor, kind, subject, correlationId, data, prevHash, hash)
            in rows.decode((Int64, String, String, String, String, String?, String, String, String).self) {
            try body(ExportedAuditRow(seq: seq, at: at, actor: actor, kind: kind, subject: subject, correlationId: correlationId,
                                      data: data, prevHash: prevHash, hash: hash))
        }
    }

    /// Decisions with `decided_at` in [from, to) (and the filters), oldest first, each read
    /// whole with its review decisions, deliveries and audit entry.
    static func exportDecisions(_ unit: WorkUnit, _ request: ExportRequest,
                                _ body: ([String: JSONValue], AuditPosition?) throws -> Void) async throws {
        var sql = SQL("""
            SELECT d.id, d.decided_at, d.event_id, e.type, e.source, e.external_id, d.account_id, e.correlation_id,
                   e.submitted_by, e.occurred_at, e.received_at, d.outcome, d.queue, e.amount_minor, e.currency,
                   d.reasons, d.actions, d.policies, e.body, d.row_id, r.id AS review_id, r.state AS review_state,
                   (SELECT a.seq FROM audit_log a WHERE a.correlation_id = e.correlation_id AND a.kind = 'decision.made'
                    AND a.subject = d.id) AS audit_seq,
                   (SELECT a.hash FROM audit_log a WHERE a.correlation_id = e.correlation_id AND a.kind = 'decision.made'
                    AND a.subject = d.id) AS audit_hash
            FROM decisions d JOIN events e ON e.id = d.event_id LEFT JOIN review_items r ON r.decision_id = d.id
            """)
        var conditions = ["d.decided_at >= \(sql.bind(Timestamp.format(request.from)))",
                          "d.decided_at < \(sql.bind(Timestamp.format(request.to)))"]
        let filters = request.filters
        if let outcome = filters.outcome { conditions.append("d.outcome = \(sql.bind(outcome))") }
        if let queue = filters.queue { conditions.append("d.queue = \(sql.bind(queue))") }
        if let account = filters.accountId { conditions.append("d.account_id = \(sql.bind(account))") }
        if let actor = filters.actor { conditions.append("e.submitted_by = \(sql.bind(actor))") }
        if let policy = filters.policy {
            conditions.append("EXISTS (SELECT 1 FROM json_array_elements(d.policies::json) p WHERE p->>'name' = \(sql.bind(policy)))")
        }
        sql.append(" WHERE \(conditions.joined(separator: " AND "))")
        // A connection carries one statement at a time, and the caller's snapshot is this
        // connection's: the decisions are read a page at a time (keyset on decided_at, row_id),
        // then that page's reviews and deliveries, so memory stays flat however long the range.
        var after: (decidedAt: String, row: Int64)?
        while true {
            var paged = sql
            if let after {
                paged.append(" AND (d.decided_at, d.row_id) > (\(paged.bind(after.decidedAt)), \(paged.bind(after.row)))")
            }
            paged.append(" ORDER BY d.decided_at, d.row_id LIMIT 500")
            let rows = try await unit.rows(paged.query)
            guard let last = rows.last else { break }
            after = (try last["decided_at"], try last["row_id"])
            let page = try rows.map(exported)
            try await complete(unit, page, body)
            if rows.count < 500 { break }
        }
    }

    /// A decision's own columns.
    private static func exported(_ row: Row) throws -> ExportedDecision {
        var decision = ExportedDecision()
        decision.decisionId = try row["id"]
        decision.decidedAt = try row["decided_at"]
        decision.eventId = try row["event_id"]
        decision.eventType = try row["type"]
        decision.source = try row["source"]
        decision.externalId = try row["external_id"]
        decision.accountId = try row["account_id"]
        decision.correlationId = try row["correlation_id"]
        decision.submittedBy = try row["submitted_by"]
        decision.occurredAt = try row["occurred_at"]
        decision.receivedAt = try row["received_at"]
        decision.outcome = try row["outcome"]
        decision.queue = try row["queue"]
        decision.amountMinor = try row["amount_minor"]
        decision.currency = try row["currency"]
        decision.reasons = try row["reasons"]
        decision.actions = try row["actions"]
        decision.policies = try row["policies"]
        decision.body = try row["body"]
        decision.reviewId = try row["review_id"]
        decision.reviewState = try row["review_state"]
        if let seq: Int64 = try row["audit_seq"], let hash: String = try row["audit_hash"] {
            decision.audit = AuditPosition(seq: seq, hash: hash)
        }
        return decision
    }

    /// A page of decisions with their review decisions and deliveries, each handed to `body`.
    private static func complete(_ unit: WorkUnit, _ page: [ExportedDecision],
                                 _ body: ([String: JSONValue], AuditPosition?) throws -> Void) async throws {
        var steps: [String: [ExportedDecision.ReviewStep]] = [:]
        let reviewIds = page.compactMap(\.reviewId)
        if !reviewIds.isEmpty {
            for row in try await unit.rows("""
                SELECT review_id, at, actor, action, amount_minor, comment FROM review_history
                WHERE review_id = ANY(\(reviewIds)::text[]) AND action IN ('approved', 'rejected') ORDER BY id
                """) {
                steps[try row["review_id"], default: []].append(.init(at: try row["at"], reviewer: try row["actor"],
                                                                      action: try row["action"], amountMinor: try row["amount_minor"],
                                                                      comment: try row["comment"]))
            }
        }
        var deliveries: [String: [ExportedDecision.Delivery]] = [:]
        for row in try await unit.rows("""
            SELECT decision_id, id, type, status, erp_reference, attempts, delivered_at, last_error FROM outbox_actions
            WHERE decision_id = ANY(\(page.map(\.decisionId))::text[]) AND target = 'erp' ORDER BY seq
            """) {
            deliveries[try row["decision_id"], default: []].append(.init(
                actionId: try row["id"], type: try row["type"], status: try row["status"], erpReference: try row["erp_reference"],
                attempts: try row["attempts"], deliveredAt: try row["delivered_at"], lastError: try row["last_error"]))
        }
        for var decision in page {
            decision.reviewDecisions = decision.reviewId.flatMap { steps[$0] } ?? []
            decision.deliveries = deliveries[decision.decisionId] ?? []
            try body(try decision.fields(), decision.audit)
        }
    }
}
