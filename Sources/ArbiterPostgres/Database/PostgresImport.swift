import ArbiterApp
import ArbiterCore
import Foundation
import Logging
import PostgresNIO

/// Moves an embedded installation into an empty PostgreSQL database (`arbiter store copy`):
/// every table, rows as stored (the audit chain byte for byte, so its hashes are the same),
/// SQLite's rowids as the order columns that stand for them, then the sequences and the
/// chain's head set after them.
public enum PostgresImport {
    /// A table: the SQLite query (its columns in `columns` order, then its rowid, paged by
    /// rowid) and the PostgreSQL columns, in dependency order.
    public struct Table: Sendable {
        public let name: String
        public let columns: [String]
        public let select: String
        /// Columns stored as 0/1 in SQLite and as boolean here.
        let booleans: Set<String>

        init(_ name: String, _ columns: [String], from expressions: [String]? = nil, booleans: Set<String> = []) {
            self.name = name
            self.columns = columns
            self.booleans = booleans
            select = "SELECT \((expressions ?? columns).joined(separator: ", ")), rowid FROM \(name) WHERE rowid > ? ORDER BY rowid LIMIT ?"
        }
    }

    public static let tables: [Table] = [
        Table("api_keys", ["id", "name", "role", "key_hash", "approval_limits", "created_at", "created_by", "revoked_at"]),
        Table("accounts", ["id", "status", "tier", "mrr_minor", "currency", "open_balance_minor", "days_past_due", "entitlements",
                           "updated_at"]),
        Table("policy_versions", ["name", "version", "file", "source", "tests", "status", "published_by", "published_at", "activated_at"]),
        Table("policy_version_history", ["id", "name", "version", "change", "actor", "at"]),
        Table("policy_proposals", ["id", "name", "version", "change", "proposed_by", "proposed_at", "state", "decided_by", "decided_at"]),
        Table("policy_shadows", ["id", "name", "version", "event_types", "started_by", "started_at", "stopped_by", "stopped_at"]),
        Table("events", ["id", "row_id", "source", "external_id", "type", "account_id", "correlation_id", "occurred_at", "received_at",
                         "submitted_by", "body_sha256", "body", "amount_minor", "currency"],
              from: ["id", "rowid", "source", "external_id", "type", "account_id", "correlation_id", "occurred_at", "received_at",
                     "submitted_by", "body_sha256", "body", "amount_minor", "currency"]),
        Table("decisions", ["id", "row_id", "event_id", "account_id", "outcome", "queue", "reasons", "actions", "policies", "context",
                            "response", "decided_at", "duration_us"],
              from: ["id", "rowid", "event_id", "account_id", "outcome", "queue", "reasons", "actions", "policies", "context",
                     "response", "decided_at", "duration_us"]),
        Table("review_items", ["id", "decision_id", "event_id", "account_id", "queue", "state", "submitted_by", "approvals_required",
                               "approvals_given", "claimed_by", "claimed_at", "claim_expires_at", "sla_due_at", "created_at", "updated_at",
                               "decided_at", "escalated_at", "escalated_from", "decided_by", "approved_amount_minor"]),
        Table("review_history", ["id", "review_id", "at", "actor", "action", "comment", "amount_minor", "assignee"]),
        Table("outbox_actions", ["id", "seq", "decision_id", "review_id", "account_id", "correlation_id", "type", "amount_minor",
                                 "currency", "payload", "status", "attempts", "next_attempt_at", "erp_reference", "last_error",
                                 "created_at", "delivered_at", "last_status_code", "response_body", "updated_at", "target"],
              from: ["id", "rowid", "decision_id", "review_id", "account_id", "correlation_id", "type", "amount_minor",
                     "currency", "payload", "status", "attempts", "next_attempt_at", "erp_reference", "last_error",
                     "created_at", "delivered_at", "last_status_code", "response_body", "updated_at", "target"]),
        Table("outbox_attempts", ["id", "action_id", "at", "duration_us", "status_code", "error", "result"]),
        Table("shadow_differences", ["id", "shadow_id", "event_id", "decision_id", "transition", "outcome_changed", "actual", "shadow", "at"],
              booleans: ["outcome_changed"]),
        Table("backtests", ["id", "name", "version", "range_from", "range_to", "row_limit", "requested_by", "requested_at", "status",
                            "total", "finished_at", "report", "error"]),
        Table("audit_log", ["seq", "at", "actor", "kind", "subject", "correlation_id", "data", "prev_hash", "hash"]),
        Table("account_refs", ["system", "ref", "account_id"]),
        Table("inbound_messages", ["id", "source", "external_id", "vendor_type", "received_at", "updated_at", "headers", "body", "status",
                                   "detail", "account_id", "events", "ordering_key", "ordering_at", "attempts"]),
        Table("mapping_versions", ["source", "version", "file", "script", "tests", "published_by", "published_at"]),
        Table("mapping_active", ["source", "version", "activated_by", "activated_at"]),
        Table("inbound_sources", ["name", "definition", "updated_by", "updated_at"]),
        Table("inbound_objects", ["source", "object_id", "customer_system", "customer_ref", "invoice_id", "learned_at"]),
        Table("reconciliation_runs", ["id", "mapping", "period_from", "period_to", "stale_before", "source", "target", "requested_by",
                                      "created_at", "counts", "exceptions", "exceptions_opened", "exceptions_closed", "report_sha256",
                                      "manifest"]),
        Table("reconciliation_exceptions", ["id", "mapping", "subject", "first_run", "last_run", "class", "reason", "action_id", "erp_key",
                                            "erp_document", "amount_minor", "currency", "owner", "state", "resolution", "resolved_by",
                                            "resolved_at", "comment", "created_at", "updated_at"]),
        Table("reconciliation_mappings", ["name", "definition", "updated_by", "updated_at"]),
        Table("audit_checkpoints", ["id", "seq", "hash", "at", "key_id", "signature"]),
    ]

    /// The `bigserial` columns whose sequences must start after the copied rows.
    static let sequences: [(table: String, column: String)] = [
        ("events", "row_id"), ("decisions", "row_id"), ("outbox_actions", "seq"), ("review_history", "id"),
        ("outbox_attempts", "id"), ("policy_version_history", "id"), ("policy_proposals", "id"), ("policy_shadows", "id"),
        ("shadow_differences", "id"), ("audit_checkpoints", "id"),
    ]

    /// Refuses a database that holds anything but what migrating it made: a copy goes into an
    /// empty database, never on top of a running installation.
    public static func checkEmpty(_ backend: PostgresBackend) async throws {
        try await backend.read { unit in
            for table in ["api_keys", "events", "policy_versions", "audit_log", "accounts"] {
                if let n = try await unit.value(PostgresQuery(unsafeSQL: "SELECT COUNT(*) FROM \(table)"), as: Int64.self), n > 0 {
                    throw Refusal.conflict("the target database is not empty (\(table) has \(n) rows): copy into a new database")
                }
            }
        }
    }

    /// Inserts one page of `table`'s rows (in one transaction).
    public static func insert(_ rows: [[StoredValue]], into table: Table, _ backend: PostgresBackend) async throws {
        try await backend.transaction { unit in
            for row in rows {
                var sql = SQL("INSERT INTO \(table.name) (\(table.columns.joined(separator: ", "))) VALUES (")
                var placeholders: [String] = []
                for (column, value) in zip(table.columns, row) {
                    switch value {
                    case .null: placeholders.append(sql.bind(String?.none))
                    case .int(let n) where table.booleans.contains(column): placeholders.append(sql.bind(n != 0))
                    case .int(let n): placeholders.append(sql.bind(n))
                    case .double(let d): placeholders.append(sql.bind(d))
                    case .text(let s): placeholders.append(sql.bind(s))
                    }
                }
                sql.append(placeholders.joined(separator: ", ") + ")")
                try await unit.run(sql.query)
            }
        }
    }

    /// After the rows: sequences past the copied ids, the chain's head at the last entry, the
    /// policies' generation moved on.
    public static func finish(_ backend: PostgresBackend) async throws {
        try await backend.transaction { unit in
            for (table, column) in sequences {
                try await unit.run(PostgresQuery(unsafeSQL: """
                    SELECT setval(pg_get_serial_sequence('\(table)', '\(column)'), COALESCE((SELECT MAX(\(column)) FROM \(table)), 0) + 1, false)
                    """))
            }
            try await unit.run("""
                UPDATE audit_head SET seq = last.seq, hash = last.hash
                FROM (SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1) AS last WHERE audit_head.id = 1
                """)
            try await PGPolicyVersions.bumpGeneration(unit)
        }
    }
}
