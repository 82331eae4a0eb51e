import ArbiterApp
import ArbiterCore
import Foundation
import GRDB

/// Reconciliation runs, exceptions and saved mappings in SQLite.
public struct SQLiteReconciliationStore: ReconciliationStore {
    let database: AppDatabase

    public init(database: AppDatabase) {
        self.database = database
    }

    public func moneyActions(from: String, to: String, _ body: @escaping @Sendable (MoneyActionRow) throws -> Void) async throws {
        try await database.writer.read { db in
            let rows = try Row.fetchCursor(db, sql: """
                SELECT id, type, amount_minor, currency, status, created_at, erp_reference FROM outbox_actions
                WHERE type IN ('credit_memo', 'refund') AND created_at >= ? AND created_at < ? ORDER BY created_at, id
                """, arguments: [from, to])
            while let row = try rows.next() {
                try body(MoneyActionRow(id: row[0], type: row[1], amountMinor: row[2] ?? 0, currency: row[3] ?? "", status: row[4],
                                        createdAt: row[5], erpReference: row[6]))
            }
        }
    }

    public func openExceptions(mapping: String) async throws -> [ReconciliationException] {
        try await database.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM reconciliation_exceptions WHERE mapping = ? AND state = 'open' ORDER BY id",
                             arguments: [mapping]).map(Self.exception)
        }
    }

    public func record(_ run: ReconciliationRun, exceptions: [ReconciliationException], closing: [String], audit: AuditDraft) async throws {
        try await database.writer.write { db in
            try db.execute(sql: """
                INSERT INTO reconciliation_runs (id, mapping, period_from, period_to, stale_before, source, target, requested_by, created_at,
                    counts, exceptions, exceptions_opened, exceptions_closed, report_sha256, manifest)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [run.id, run.mapping, run.from, run.to, run.staleBefore, run.source, run.target, run.requestedBy,
                                 run.createdAt, Self.text(.object(run.counts.mapValues { .int(Int64($0)) })), run.exceptions,
                                 run.exceptionsOpened, run.exceptionsClosed, run.reportSHA256, Self.text(run.manifest)])
            let update = try db.makeStatement(sql: """
                UPDATE reconciliation_exceptions SET last_run = ?, class = ?, reason = ?, updated_at = ?
                WHERE mapping = ? AND subject = ? AND state = 'open'
                """)
            let insert = try db.makeStatement(sql: """
                INSERT INTO reconciliation_exceptions (id, mapping, subject, first_run, last_run, class, reason, action_id, erp_key,
                    erp_document, amount_minor, currency, owner, state, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?)
                """)
            for e in exceptions {
                try update.execute(arguments: [e.lastRun, e.class, e.reason, e.updatedAt, e.mapping, e.subject])
                if db.changesCount == 0 {
                    try insert.execute(arguments: [e.id, e.mapping, e.subject, e.firstRun, e.lastRun, e.class, e.reason, e.actionId, e.erpKey,
                                                   e.erpDocument, e.amountMinor, e.currency, e.owner, e.createdAt, e.updatedAt])
                }
            }
            let close = try db.makeStatement(sql: """
                UPDATE reconciliation_exceptions SET state = 'resolved', resolution = 'matched', resolved_by = ?, resolved_at = ?,
                    last_run = ?, updated_at = ?
                WHERE id = ? AND state = 'open'
                """)
            for id in closing {
                try close.execute(arguments: ["reconciliation:\(run.id)", run.createdAt, run.id, run.createdAt, id])
            }
            var chain = try AuditChain(db)
            try chain.append(db, audit)
        }
    }

    public func run(id: String) async throws -> ReconciliationRun? {
        try await database.writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM reconciliation_runs WHERE id = ?", arguments: [id]).map(Self.run)
        }
    }

    public func runs(after: String?, limit: Int) async throws -> Page<ReconciliationRun> {
        try await database.writer.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT * FROM reconciliation_runs \(after == nil ? "" : "WHERE id < ?") ORDER BY id DESC LIMIT ?
                """, arguments: after.map { [$0, limit + 1] as StatementArguments } ?? [limit + 1])
            let page = rows.prefix(limit).map(Self.run)
            return Page(items: page, next: rows.count > limit ? page.last?.id : nil)
        }
    }

    public func exceptions(state: String?, mapping: String?, run: String?, after: String?, limit: Int) async throws
        -> Page<ReconciliationException> {
        try await database.writer.read { db in
            var clauses: [String] = []
            var arguments: StatementArguments = []
            if let state { clauses.append("state = ?"); arguments += [state] }
            if let mapping { clauses.append("mapping = ?"); arguments += [mapping] }
            if let run { clauses.append("(first_run = ? OR last_run = ?)"); arguments += [run, run] }
            if let after { clauses.append("id > ?"); arguments += [after] }
            arguments += [limit + 1]
            let rows = try Row.fetchAll(db, sql: """
                SELECT * FROM reconciliation_exceptions \(clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND "))
                ORDER BY id LIMIT ?
                """, arguments: arguments)
            let page = rows.prefix(limit).map(Self.exception)
            return Page(items: page, next: rows.count > limit ? page.last?.id : nil)
        }
    }

    public func exception(id: String) async throws -> ReconciliationException? {
        try await database.writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM reconciliation_exceptions WHERE id = ?", arguments: [id]).map(Self.exception)
        }
    }

    public func resolve(id: String, _ resolution: ReconciliationException.Resolution, by actor: String, comment: String?,
                        now: Date) async throws -> ReconciliationException {
        try await database.writer.write { db in
            let exception = try Self.stored(db, id: id)
            try ReconciliationRules.check(exception, resolution, comment: comment)
            if let action = exception.actionId {
                switch resolution {
                case .resend: try Outbox.resend(db, id: action, by: actor, comment: comment, now: now)
                case .cancel: try Outbox.cancel(db, id: action, by: actor, comment: comment ?? "cancelled by reconciliation", now: now)
                case .accept, .matched: break
                }
            }
            let at = Timestamp.format(now)
            try db.execute(sql: """
                UPDATE reconciliation_exceptions SET state = 'resolved', resolution = ?, resolved_by = ?, resolved_at = ?, comment = ?,
                    updated_at = ? WHERE id = ?
                """, arguments: [resolution.rawValue, actor, at, comment, at, id])
            try AuditLog.append(db, actor: actor, kind: "reconciliation.exception_resolved", subject: id, correlationId: nil,
                                data: ReconciliationRules.auditData(exception, resolution, comment: comment), at: now)
            return try Self.stored(db, id: id)
        }
    }

    public func assign(id: String, owner: String?, by actor: String, now: Date) async throws -> ReconciliationException {
        try await database.writer.write { db in
            let exception = try Self.stored(db, id: id)
            let at = Timestamp.format(now)
            try db.execute(sql: "UPDATE reconciliation_exceptions SET owner = ?, updated_at = ? WHERE id = ?", arguments: [owner, at, id])
            try AuditLog.append(db, actor: actor, kind: "reconciliation.exception_assigned", subject: id, correlationId: nil,
                                data: ["owner": owner.map(JSONValue.string) ?? .null, "was": exception.owner.map(JSONValue.string) ?? .null],
                                at: now)
            return try Self.stored(db, id: id)
        }
    }

    public func mapping(name: String) async throws -> StoredMapping? {
        try await database.writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM reconciliation_mappings WHERE name = ?", arguments: [name]).map(Self.mapping)
        }
    }

    public func mappings() async throws -> [StoredMapping] {
        try await database.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM reconciliation_mappings ORDER BY name").map(Self.mapping)
        }
    }

    public func saveMapping(_ mapping: StoredMapping) async throws -> Bool {
        try await database.writer.write { db in
            let existed = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM reconciliation_mappings WHERE name = ?)",
                                            arguments: [mapping.name]) ?? false
            try db.execute(sql: """
                INSERT INTO reconciliation_mappings (name, definition, updated_by, updated_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, updated_by = excluded.updated_by,
                    updated_at = excluded.updated_at
                """, arguments: [mapping.name, Self.text(mapping.definition), mapping.updatedBy, mapping.updatedAt])
            try AuditLog.append(db, actor: mapping.updatedBy, kind: "reconciliation.mapping_saved", subject: mapping.name,
                                data: ["definition": mapping.definition], at: Timestamp.parse(mapping.updatedAt) ?? Date())
            return !existed
        }
    }

    public func removeMapping(name: String, by actor: String, now: Date) async throws -> Bool {
        try await database.writer.write { db in
            try db.execute(sql: "DELETE FROM reconciliation_mappings WHERE name = ?", arguments: [name])
            guard db.changesCount > 0 else { return false }
            try AuditLog.append(db, actor: actor, kind: "reconciliation.mapping_removed", subject: name, at: now)
            return true
        }
    }

    /// Exception `id` (refused when there is none).
    static func stored(_ db: Database, id: String) throws -> ReconciliationException {
        guard let exception = try Row.fetchOne(db, sql: "SELECT * FROM reconciliation_exceptions WHERE id = ?", arguments: [id])
            .map(exception) else {
            throw Refusal.notFound("no reconciliation exception with id '\(id)'")
        }
        return exception
    }

    static func exception(_ row: Row) -> ReconciliationException {
        ReconciliationException(id: row["id"], mapping: row["mapping"], subject: row["subject"], firstRun: row["first_run"],
                                lastRun: row["last_run"], class: row["class"], reason: row["reason"], actionId: row["action_id"],
                                erpKey: row["erp_key"], erpDocument: row["erp_document"], amountMinor: row["amount_minor"],
                                currency: row["currency"], owner: row["owner"], state: row["state"],
                                resolution: (row["resolution"] as String?).flatMap(ReconciliationException.Resolution.init(rawValue:)),
                                resolvedBy: row["resolved_by"], resolvedAt: row["resolved_at"], comment: row["comment"],
                                createdAt: row["created_at"], updatedAt: row["updated_at"])
    }

    static func run(_ row: Row) -> ReconciliationRun {
        let counts = StoredJSON.value(row["counts"]).objectValue ?? [:]
        return ReconciliationRun(id: row["id"], mapping: row["mapping"], from: row["period_from"], to: row["period_to"],
                                 staleBefore: row["stale_before"], source: row["source"], target: row["target"],
                                 requestedBy: row["requested_by"], createdAt: row["created_at"],
                                 counts: counts.compactMapValues { $0.intValue.map(Int.init) }, exceptions: row["exceptions"],
                                 exceptionsOpened: row["exceptions_opened"], exceptionsClosed: row["exceptions_closed"],
                                 reportSHA256: row["report_sha256"],
                                 manifest: StoredJSON.value(row["manifest"]))
    }

    static func text(_ value: JSONValue) -> String { String(decoding: CanonicalJSON.encode(value), as: UTF8.self) }

    static func mapping(_ row: Row) -> StoredMapping {
        StoredMapping(name: row["name"], definition: StoredJSON.value(row["definition"]),
                      updatedBy: row["updated_by"], updatedAt: row["updated_at"])
    }
}
