import ArbiterApp
import ArbiterCore
import Foundation
import PostgresNIO

/// Reconciliation runs, exceptions and saved mappings on PostgreSQL.
struct PostgresReconciliationStore: ReconciliationStore {
    let backend: PostgresBackend

    func moneyActions(from: String, to: String, _ body: @escaping @Sendable (MoneyActionRow) throws -> Void) async throws {
        try await backend.snapshot { unit in
            // A page at a time (keyset on created_at, id) from one snapshot: memory stays flat.
            var after: (String, String)?
            while true {
                var sql = SQL("""
                    SELECT id, type, amount_minor, currency, status, created_at, erp_reference FROM outbox_actions
                    WHERE type IN ('credit_memo', 'refund') AND created_at >= 
                    """)
                sql.append(sql.bind(from) + " AND created_at < " + sql.bind(to))
                if let after { sql.append(" AND (created_at, id) > (\(sql.bind(after.0)), \(sql.bind(after.1)))") }
                sql.append(" ORDER BY created_at, id LIMIT 5000")
                let rows = try await unit.rows(sql.query)
                for row in rows {
                    try body(MoneyActionRow(id: try row["id"], type: try row["type"], amountMinor: try row["amount_minor"] as Int64? ?? 0,
                                            currency: try row["currency"] as String? ?? "", status: try row["status"],
                                            createdAt: try row["created_at"], erpReference: try row["erp_reference"]))
                }
                guard rows.count == 5000, let last = rows.last else { break }
                after = (try last["created_at"], try last["id"])
            }
        }
    }

    func openExceptions(mapping: String) async throws -> [ReconciliationException] {
        try await backend.read { unit in
            try await unit.rows("SELECT * FROM reconciliation_exceptions WHERE mapping = \(mapping) AND state = 'open' ORDER BY id")
                .map(Self.exception)
        }
    }

    func record(_ run: ReconciliationRun, exceptions: [ReconciliationException], closing: [String], audit: AuditDraft) async throws {
        try await backend.transaction { unit in
            let counts = CanonicalJSON.string(.object(run.counts.mapValues { .int(Int64($0)) }))
            try await unit.run("""
                INSERT INTO reconciliation_runs (id, mapping, period_from, period_to, stale_before, source, target, requested_by, created_at,
                    counts, exceptions, exceptions_opened, exceptions_closed, report_sha256, manifest)
                VALUES (\(run.id), \(run.mapping), \(run.from), \(run.to), \(run.staleBefore), \(run.source), \(run.target),
                        \(run.requestedBy), \(run.createdAt), \(counts), \(Int64(run.exceptions)), \(Int64(run.exceptionsOpened)),
                        \(Int64(run.exceptionsClosed)), \(run.reportSHA256), \(CanonicalJSON.string(run.manifest)))
                """)
            // In chunks of a thousand: one statement each, an open exception updated, a new one inserted
            // (absent values travel as empty texts: NULLIF makes them NULL again).
            for start in stride(from: 0, to: exceptions.count, by: 1000) {
                let chunk = exceptions[start..<min(start + 1000, exceptions.count)]
                try await unit.run("""
                    INSERT INTO reconciliation_exceptions (id, mapping, subject, first_run, last_run, class, reason, action_id, erp_key,
                        erp_document, amount_minor, currency, owner, state, created_at, updated_at)
                    SELECT id, mapping, subject, first_run, last_run, class, reason, NULLIF(action_id, ''), NULLIF(erp_key, ''),
                           NULLIF(erp_document, ''), NULLIF(amount_minor, '')::bigint, NULLIF(currency, ''), NULLIF(owner, ''), 'open',
                           created_at, updated_at
                    FROM unnest(\(chunk.map(\.id))::text[], \(chunk.map(\.mapping))::text[], \(chunk.map(\.subject))::text[],
                                \(chunk.map(\.firstRun))::text[], \(chunk.map(\.lastRun))::text[], \(chunk.map(\.class))::text[],
                                \(chunk.map(\.reason))::text[], \(chunk.map { $0.actionId ?? "" })::text[],
                                \(chunk.map { $0.erpKey ?? "" })::text[], \(chunk.map { $0.erpDocument ?? "" })::text[],
                                \(chunk.map { $0.amountMinor.map(String.init) ?? "" })::text[], \(chunk.map { $0.currency ?? "" })::text[],
                                \(chunk.map { $0.owner ?? "" })::text[], \(chunk.map(\.createdAt))::text[], \(chunk.map(\.updatedAt))::text[])
                         AS n (id, mapping, subject, first_run, last_run, class, reason, action_id, erp_key, erp_document, amount_minor,
                               currency, owner, created_at, updated_at)
                    ON CONFLICT (mapping, subject) WHERE state = 'open'
                    DO UPDATE SET last_run = excluded.last_run, class = excluded.class, reason = excluded.reason,
                        updated_at = excluded.updated_at
                    """)
            }
            if !closing.isEmpty {
                try await unit.run("""
                    UPDATE reconciliation_exceptions SET state = 'resolved', resolution = 'matched', resolved_by = \("reconciliation:\(run.id)"),
                        resolved_at = \(run.createdAt), last_run = \(run.id), updated_at = \(run.createdAt)
                    WHERE id = ANY(\(closing)::text[]) AND state = 'open'
                    """)
            }
            unit.audit(audit)
        }
    }

    func run(id: String) async throws -> ReconciliationRun? {
        try await backend.read { unit in
            try await unit.row("SELECT * FROM reconciliation_runs WHERE id = \(id)").map(Self.run)
        }
    }

    func runs(after: String?, limit: Int) async throws -> Page<ReconciliationRun> {
        try await backend.read { unit in
            var sql = SQL("SELECT * FROM reconciliation_runs")
            if let after { sql.append(" WHERE id < " + sql.bind(after)) }
            sql.append(" ORDER BY id DESC LIMIT \(limit + 1)")
            let rows = try await unit.rows(sql.query)
            let page = try rows.prefix(limit).map(Self.run)
            return Page(items: page, next: rows.count > limit ? page.last?.id : nil)
        }
    }

    func exceptions(state: String?, mapping: String?, run: String?, after: String?, limit: Int) async throws -> Page<ReconciliationException> {
        try await backend.read { unit in
            var sql = SQL("SELECT * FROM reconciliation_exceptions")
            var clauses: [String] = []
            if let state { clauses.append("state = " + sql.bind(state)) }
            if let mapping { clauses.append("mapping = " + sql.bind(mapping)) }
            if let run { clauses.append("(first_run = \(sql.bind(run)) OR last_run = \(sql.bind(run)))") }
            if let after { clauses.append("id > " + sql.bind(after)) }
            if !clauses.isEmpty { sql.append(" WHERE " + clauses.joined(separator: " AND ")) }
            sql.append(" ORDER BY id LIMIT \(limit + 1)")
            let rows = try await unit.rows(sql.query)
            let page = try rows.prefix(limit).map(Self.exception)
            return Page(items: page, next: rows.count > limit ? page.last?.id : nil)
        }
    }

    func exception(id: String) async throws -> ReconciliationException? {
        try await backend.read { unit in
            try await unit.row("SELECT * FROM reconciliation_exceptions WHERE id = \(id)").map(Self.exception)
        }
    }

    func resolve(id: String, _ resolution: ReconciliationException.Resolution, by actor: String, comment: String?,
                 now: Date) async throws -> ReconciliationException {
        try await backend.transaction { unit in
            guard let exception = try await unit.row("SELECT * FROM reconciliation_exceptions WHERE id = \(id)").map(Self.exception) else {
                throw Refusal.notFound("no reconciliation exception with id '\(id)'")
            }
            try ReconciliationRules.check(exception, resolution, comment: comment)
            // The action first: its account's lock comes before any other.
            if let action = exception.actionId {
                switch resolution {
                case .resend: try await PGOutbox.resend(unit, id: action, by: actor, comment: comment, now: now)
                case .cancel: try await PGOutbox.cancel(unit, id: action, by: actor, comment: comment ?? "cancelled by reconciliation", now: now)
                case .accept, .matched: break
                }
            }
            let at = Timestamp.format(now)
            guard let row = try await unit.row("""
                UPDATE reconciliation_exceptions SET state = 'resolved', resolution = \(resolution.rawValue), resolved_by = \(actor),
                    resolved_at = \(at), comment = \(comment), updated_at = \(at)
                WHERE id = \(id) AND state = 'open' RETURNING *
                """) else {
                throw Refusal.conflict("exception \(id) was resolved by someone else meanwhile")
            }
            unit.audit(actor: actor, kind: "reconciliation.exception_resolved", subject: id,
                       data: ReconciliationRules.auditData(exception, resolution, comment: comment), at: now)
            return try Self.exception(row)
        }
    }

    func assign(id: String, owner: String?, by actor: String, now: Date) async throws -> ReconciliationException {
        try await backend.transaction { unit in
            guard let was = try await unit.row("SELECT * FROM reconciliation_exceptions WHERE id = \(id) FOR UPDATE").map(Self.exception) else {
                throw Refusal.notFound("no reconciliation exception with id '\(id)'")
            }
            let at = Timestamp.format(now)
            guard let row = try await unit.row("""
                UPDATE reconciliation_exceptions SET owner = \(owner), updated_at = \(at) WHERE id = \(id) RETURNING *
                """) else { throw Refusal.notFound("no reconciliation exception with id '\(id)'") }
            unit.audit(actor: actor, kind: "reconciliation.exception_assigned", subject: id,
                       data: ["owner": owner.map(JSONValue.string) ?? .null, "was": was.owner.map(JSONValue.string) ?? .null], at: now)
            return try Self.exception(row)
        }
    }

    func mapping(name: String) async throws -> StoredMapping? {
        try await backend.read { unit in
            try await unit.row("SELECT * FROM reconciliation_mappings WHERE name = \(name)").map(Self.mapping)
        }
    }

    func mappings() async throws -> [StoredMapping] {
        try await backend.read { unit in try await unit.rows("SELECT * FROM reconciliation_mappings ORDER BY name").map(Self.mapping) }
    }

    func saveMapping(_ mapping: StoredMapping) async throws -> Bool {
        try await backend.transaction { unit in
            let inserted = try await unit.value("""
                INSERT INTO reconciliation_mappings (name, definition, updated_by, updated_at)
                VALUES (\(mapping.name), \(CanonicalJSON.string(mapping.definition)), \(mapping.updatedBy), \(mapping.updatedAt))
                ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, updated_by = excluded.updated_by,
                    updated_at = excluded.updated_at
                RETURNING (xmax = 0)
                """, as: Bool.self) ?? false
            unit.audit(AuditDraft(actor: mapping.updatedBy, kind: "reconciliation.mapping_saved", subject: mapping.name, correlationId: nil,
                                  at: mapping.updatedAt, dataJSON: CanonicalJSON.encode(.object(["definition": mapping.definition]))))
            return inserted
        }
    }

    func removeMapping(name: String, by actor: String, now: Date) async throws -> Bool {
        try await backend.transaction { unit in
            guard try await unit.value("DELETE FROM reconciliation_mappings WHERE name = \(name) RETURNING name", as: String.self) != nil else {
                return false
            }
            unit.audit(actor: actor, kind: "reconciliation.mapping_removed", subject: name, at: now)
            return true
        }
    }

    static func exception(_ row: Row) throws -> ReconciliationException {
        ReconciliationException(id: try row["id"], mapping: try row["mapping"], subject: try row["subject"], firstRun: try row["first_run"],
                                lastRun: try row["last_run"], class: try row["class"], reason: try row["reason"],
                                actionId: try row["action_id"], erpKey: try row["erp_key"], erpDocument: try row["erp_document"],
                                amountMinor: try row["amount_minor"], currency: try row["currency"], owner: try row["owner"],
                                state: try row["state"],
                                resolution: (try row["resolution"] as String?).flatMap(ReconciliationException.Resolution.init(rawValue:)),
                                resolvedBy: try row["resolved_by"], resolvedAt: try row["resolved_at"], comment: try row["comment"],
                                createdAt: try row["created_at"], updatedAt: try row["updated_at"])
    }

    static func run(_ row: Row) throws -> ReconciliationRun {
        let counts = StoredJSON.value(try row["counts"] as String).objectValue ?? [:]
        return ReconciliationRun(id: try row["id"], mapping: try row["mapping"], from: try row["period_from"], to: try row["period_to"],
                                 staleBefore: try row["stale_before"], source: try row["source"], target: try row["target"],
                                 requestedBy: try row["requested_by"], createdAt: try row["created_at"],
                                 counts: counts.compactMapValues { $0.intValue.map(Int.init) },
                                 exceptions: Int(try row["exceptions"] as Int64), exceptionsOpened: Int(try row["exceptions_opened"] as Int64),
                                 exceptionsClosed: Int(try row["exceptions_closed"] as Int64), reportSHA256: try row["report_sha256"],
                                 manifest: StoredJSON.value(try row["manifest"] as String))
    }

    static func mapping(_ row: Row) throws -> StoredMapping {
        StoredMapping(name: try row["name"], definition: StoredJSON.value(try row["definition"] as String),
                      updatedBy: try row["updated_by"], updatedAt: try row["updated_at"])
    }
}
