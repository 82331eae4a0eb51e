import Logging
import PostgresNIO

/// The schema, created by whichever instance starts first: migrations run under a session
/// advisory lock, so instances starting together migrate once and the others wait for it.
/// Named migrations, never edited once shipped. Canonical JSON lives in `text` columns (jsonb
/// would reorder keys and change bytes that are hashed).
enum PostgresMigrations {
    /// The advisory lock key of migrations (any constant no other lock uses).
    static let lockKey: Int64 = 0x4152_4249_5445_5201

    static let migrations: [(name: String, sql: [String])] = [
        ("v1: keys, accounts, the audit chain", [
            """
            CREATE TABLE api_keys (
                id text PRIMARY KEY,
                name text NOT NULL,
                role text NOT NULL CHECK (role IN ('submitter', 'sync', 'reviewer', 'policy_admin', 'auditor', 'operator', 'admin')),
                key_hash text NOT NULL UNIQUE,
                approval_limits text,
                created_at text NOT NULL,
                created_by text NOT NULL,
                revoked_at text
            )
            """,
            """
            CREATE TABLE audit_log (
                seq bigint PRIMARY KEY,
                at text NOT NULL,
                actor text NOT NULL,
                kind text NOT NULL,
                subject text NOT NULL,
                correlation_id text,
                data text NOT NULL,
                prev_hash text NOT NULL,
                hash text NOT NULL
            )
            """,
            "CREATE INDEX audit_log_correlation ON audit_log (correlation_id) WHERE correlation_id IS NOT NULL",
            // The chain's head: one row every appending transaction locks (FOR UPDATE), so
            // appends from every instance form one gap-free chain.
            """
            CREATE TABLE audit_head (
                id int PRIMARY KEY CHECK (id = 1),
                seq bigint NOT NULL,
                hash text NOT NULL
            )
            """,
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '\(String(repeating: "0", count: 64))')",
            """
            CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$
            """,
            "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
        ]),
        ("v2: shared secrets", [
            // Keys every instance must share (export signing, masking): made once, sealed with the
            // key-encryption key when one is given (wrapping 'aes-256-gcm'), else 'none'.
            """
            CREATE TABLE instance_secrets (
                name text PRIMARY KEY,
                wrapping text NOT NULL CHECK (wrapping IN ('none', 'aes-256-gcm')),
                value text NOT NULL,
                created_at text NOT NULL
            )
            """,
        ]),
        ("v3: events, decisions, reviews, outbox, policies, backtests", [
            // The same tables as the embedded store (ArbiterSQLite's migrations), with what SQLite's
            // rowid gave as explicit `bigserial` columns: the order of events and decisions a
            // backtest replays, the order of an account's line in the outbox.
            """
            CREATE TABLE accounts (
                id text PRIMARY KEY,
                status text NOT NULL CHECK (status IN ('active', 'past_due', 'suspended', 'closed')),
                tier text,
                mrr_minor bigint NOT NULL DEFAULT 0,
                currency text,
                open_balance_minor bigint NOT NULL DEFAULT 0,
                days_past_due bigint NOT NULL DEFAULT 0,
                entitlements text NOT NULL DEFAULT '[]',
                updated_at text NOT NULL
            )
            """,
            """
            CREATE TABLE events (
                id text PRIMARY KEY,
                row_id bigserial NOT NULL UNIQUE,
                source text NOT NULL,
                external_id text NOT NULL,
                type text NOT NULL,
                account_id text NOT NULL,
                correlation_id text NOT NULL,
                occurred_at text NOT NULL,
                received_at text NOT NULL,
                submitted_by text NOT NULL,
                body_sha256 text NOT NULL,
                body text NOT NULL,
                amount_minor bigint,
                currency text,
                UNIQUE (source, external_id)
            )
            """,
            "CREATE INDEX events_account_type ON events (account_id, type, occurred_at)",
            "CREATE INDEX events_type_received ON events (type, received_at, row_id)",
            """
            CREATE TABLE decisions (
                id text PRIMARY KEY,
                row_id bigserial NOT NULL UNIQUE,
                event_id text NOT NULL UNIQUE REFERENCES events (id),
                account_id text NOT NULL,
                outcome text NOT NULL CHECK (outcome IN ('approve', 'review', 'reject', 'recorded')),
                queue text,
                reasons text NOT NULL,
                actions text NOT NULL,
                policies text NOT NULL,
                context text NOT NULL,
                response text NOT NULL,
                decided_at text NOT NULL,
                duration_us bigint NOT NULL
            )
            """,
            "CREATE INDEX decisions_account ON decisions (account_id, decided_at)",
            "CREATE INDEX decisions_outcome ON decisions (outcome, decided_at)",
            "CREATE INDEX decisions_decided ON decisions (decided_at, row_id)",
            """
            CREATE TABLE review_items (
                id text PRIMARY KEY,
                decision_id text NOT NULL UNIQUE REFERENCES decisions (id),
                event_id text NOT NULL REFERENCES events (id),
                account_id text NOT NULL,
                queue text NOT NULL,
                state text NOT NULL CHECK (state IN ('open', 'claimed', 'escalated', 'approved', 'rejected')),
                submitted_by text NOT NULL,
                approvals_required bigint NOT NULL DEFAULT 1,
                approvals_given bigint NOT NULL DEFAULT 0,
                claimed_by text,
                claimed_at text,
                claim_expires_at text,
                sla_due_at text,
                created_at text NOT NULL,
                updated_at text NOT NULL,
                decided_at text,
                escalated_at text,
                escalated_from text,
                decided_by text,
                approved_amount_minor bigint
            )
            """,
            "CREATE INDEX review_items_account ON review_items (account_id, state)",
            "CREATE INDEX review_items_waiting ON review_items (queue, created_at) WHERE state IN ('open', 'claimed', 'escalated')",
            "CREATE INDEX review_items_due ON review_items (sla_due_at) WHERE state IN ('open', 'claimed') AND escalated_at IS NULL",
            "CREATE INDEX review_items_claims ON review_items (claim_expires_at) WHERE state = 'claimed'",
            """
            CREATE TABLE review_history (
                id bigserial PRIMARY KEY,
                review_id text NOT NULL REFERENCES review_items (id),
                at text NOT NULL,
                actor text NOT NULL,
                action text NOT NULL CHECK (action IN ('claimed', 'released', 'approved', 'rejected', 'reassigned',
                                                       'claim_expired', 'escalated')),
                comment text,
                amount_minor bigint,
                assignee text
            )
            """,
            "CREATE INDEX review_history_item ON review_history (review_id, id)",
            // An account's line is its pending and dead actions in `seq` order. `lease_owner` and
            // `lease_until`: the instance delivering the action now, and until when; an instance
            // that dies loses its leases when they run out, and another resumes under the same key.
            """
            CREATE TABLE outbox_actions (
                id text PRIMARY KEY,
                seq bigserial NOT NULL UNIQUE,
                decision_id text NOT NULL REFERENCES decisions (id),
                review_id text REFERENCES review_items (id),
                account_id text NOT NULL,
                correlation_id text NOT NULL,
                type text NOT NULL,
                amount_minor bigint,
                currency text,
                payload text NOT NULL,
                status text NOT NULL CHECK (status IN ('pending', 'delivered', 'dead', 'cancelled')),
                attempts bigint NOT NULL DEFAULT 0,
                next_attempt_at text,
                erp_reference text,
                last_error text,
                created_at text NOT NULL,
                delivered_at text,
                last_status_code bigint,
                response_body text,
                updated_at text,
                lease_owner text,
                lease_until text
            )
            """,
            "CREATE INDEX outbox_account_history ON outbox_actions (account_id, type, created_at)",
            "CREATE INDEX outbox_lines ON outbox_actions (account_id, seq) WHERE status IN ('pending', 'dead')",
            "CREATE INDEX outbox_status ON outbox_actions (status)",
            "CREATE INDEX outbox_decision ON outbox_actions (decision_id)",
            "CREATE INDEX outbox_review ON outbox_actions (review_id) WHERE review_id IS NOT NULL",
            """
            CREATE TABLE outbox_attempts (
                id bigserial PRIMARY KEY,
                action_id text NOT NULL REFERENCES outbox_actions (id),
                at text NOT NULL,
                duration_us bigint NOT NULL,
                status_code bigint,
                error text,
                result text NOT NULL CHECK (result IN ('delivered', 'retry', 'dead'))
            )
            """,
            "CREATE INDEX outbox_attempts_action ON outbox_attempts (action_id, id)",
            """
            CREATE TABLE policy_versions (
                name text NOT NULL,
                version text NOT NULL,
                file text NOT NULL,
                source text NOT NULL,
                tests text,
                status text NOT NULL CHECK (status IN ('draft', 'active', 'shadow', 'retired')),
                published_by text NOT NULL,
                published_at text NOT NULL,
                activated_at text,
                PRIMARY KEY (name, version)
            )
            """,
            "CREATE UNIQUE INDEX policy_versions_one_active ON policy_versions (name) WHERE status = 'active'",
            "CREATE UNIQUE INDEX policy_versions_one_shadow ON policy_versions (name) WHERE status = 'shadow'",
            """
            CREATE TABLE policy_version_history (
                id bigserial PRIMARY KEY,
                name text NOT NULL,
                version text NOT NULL,
                change text NOT NULL,
                actor text NOT NULL,
                at text NOT NULL,
                FOREIGN KEY (name, version) REFERENCES policy_versions (name, version)
            )
            """,
            "CREATE INDEX policy_version_history_name ON policy_version_history (name, id)",
            """
            CREATE TABLE policy_proposals (
                id bigserial PRIMARY KEY,
                name text NOT NULL,
                version text NOT NULL,
                change text NOT NULL DEFAULT 'activate' CHECK (change IN ('activate', 'rollback', 'deactivate')),
                proposed_by text NOT NULL,
                proposed_at text NOT NULL,
                state text NOT NULL CHECK (state IN ('pending', 'approved', 'superseded')),
                decided_by text,
                decided_at text,
                FOREIGN KEY (name, version) REFERENCES policy_versions (name, version)
            )
            """,
            "CREATE UNIQUE INDEX policy_proposals_pending ON policy_proposals (name) WHERE state = 'pending'",
            """
            CREATE TABLE policy_shadows (
                id bigserial PRIMARY KEY,
                name text NOT NULL,
                version text NOT NULL,
                event_types text NOT NULL,
                started_by text NOT NULL,
                started_at text NOT NULL,
                stopped_by text,
                stopped_at text,
                FOREIGN KEY (name, version) REFERENCES policy_versions (name, version)
            )
            """,
            "CREATE UNIQUE INDEX policy_shadows_running ON policy_shadows (name) WHERE stopped_at IS NULL",
            """
            CREATE TABLE shadow_differences (
                id bigserial PRIMARY KEY,
                shadow_id bigint NOT NULL REFERENCES policy_shadows (id),
                event_id text NOT NULL REFERENCES events (id),
                decision_id text NOT NULL REFERENCES decisions (id),
                transition text NOT NULL,
                outcome_changed boolean NOT NULL,
                actual text NOT NULL,
                shadow text NOT NULL,
                at text NOT NULL
            )
            """,
            "CREATE INDEX shadow_differences_shadow ON shadow_differences (shadow_id, id)",
            // `instance`: the instance running the job, so that a restarting instance interrupts
            // only its own jobs, never another's.
            """
            CREATE TABLE backtests (
                id text PRIMARY KEY,
                name text NOT NULL,
                version text NOT NULL,
                range_from text NOT NULL,
                range_to text NOT NULL,
                row_limit bigint,
                requested_by text NOT NULL,
                requested_at text NOT NULL,
                status text NOT NULL CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
                total bigint NOT NULL,
                finished_at text,
                report text,
                error text,
                instance text,
                FOREIGN KEY (name, version) REFERENCES policy_versions (name, version)
            )
            """,
            "CREATE INDEX backtests_name ON backtests (name, requested_at)",
            """
            CREATE TABLE audit_checkpoints (
                id bigserial PRIMARY KEY,
                seq bigint NOT NULL,
                hash text NOT NULL,
                at text NOT NULL,
                key_id text NOT NULL,
                signature text NOT NULL
            )
            """,
            // What decides live (active and shadow versions): bumped by every change, read by every
            // instance to pick the change up.
            """
            CREATE TABLE policy_generation (
                id int PRIMARY KEY CHECK (id = 1),
                generation bigint NOT NULL
            )
            """,
            "INSERT INTO policy_generation (id, generation) VALUES (1, 0)",
            // Console sessions, so a reviewer signed in through one instance stays signed in through
            // every other. Only the token's SHA-256 is kept.
            """
            CREATE TABLE console_sessions (
                token_hash text PRIMARY KEY,
                key_hash text NOT NULL,
                csrf text NOT NULL,
                created_at text NOT NULL,
                expires_at text NOT NULL
            )
            """,
            "CREATE INDEX console_sessions_key ON console_sessions (key_hash, created_at)",
        ]),
        ("v4: inbound webhooks, accounts' external references", [
            // An account's ids in other systems: how a webhook's customer finds its account.
            """
            CREATE TABLE account_refs (
                system text NOT NULL,
                ref text NOT NULL,
                account_id text NOT NULL,
                PRIMARY KEY (system, ref)
            )
            """,
            "CREATE INDEX account_refs_account ON account_refs (account_id)",
            // Webhooks that passed verification, stored before they were answered (the inbox).
            """
            CREATE TABLE inbound_messages (
                id text PRIMARY KEY,
                source text NOT NULL,
                external_id text NOT NULL,
                vendor_type text,
                received_at text NOT NULL,
                updated_at text NOT NULL,
                headers text NOT NULL,
                body text NOT NULL,
                status text NOT NULL CHECK (status IN ('processed', 'ignored', 'failed', 'unmatched')),
                detail text,
                account_id text,
                events text NOT NULL DEFAULT '[]',
                ordering_key text,
                ordering_at bigint,
                attempts bigint NOT NULL DEFAULT 0,
                UNIQUE (source, external_id)
            )
            """,
            "CREATE INDEX inbound_messages_status ON inbound_messages (status, id)",
            "CREATE INDEX inbound_messages_ordering ON inbound_messages (source, ordering_key, ordering_at) WHERE status = 'processed'",
        ]),
        ("v5: vendor objects learned from webhooks, mapping versions", [
            // A vendor's payment objects with the customer and invoice earlier messages named
            // them with: a dispute names only its charge.
            """
            CREATE TABLE inbound_objects (
                source text NOT NULL,
                object_id text NOT NULL,
                customer_system text NOT NULL,
                customer_ref text NOT NULL,
                invoice_id text,
                learned_at text NOT NULL,
                PRIMARY KEY (source, object_id)
            )
            """,
            // Mapped sources' script versions, and which is live for each source.
            """
            CREATE TABLE mapping_versions (
                source text NOT NULL,
                version text NOT NULL,
                file text NOT NULL,
                script text NOT NULL,
                tests text,
                published_by text NOT NULL,
                published_at text NOT NULL,
                PRIMARY KEY (source, version)
            )
            """,
            """
            CREATE TABLE mapping_active (
                source text PRIMARY KEY,
                version text NOT NULL,
                activated_by text NOT NULL,
                activated_at text NOT NULL
            )
            """,
        ]),
        ("v6: inbound sources configured through the API", [
            // A source's definition as sources.json holds one, its secret values sealed; it takes
            // the place of the file's source of its name.
            """
            CREATE TABLE inbound_sources (
                name text PRIMARY KEY,
                definition text NOT NULL,
                updated_by text NOT NULL,
                updated_at text NOT NULL
            )
            """,
        ]),
        ("v7: outbox targets", [
            // Where an action goes (the ERP, or an answer to the requester): each target has its
            // own lines, so a dead letter holds only its own target's actions.
            "ALTER TABLE outbox_actions ADD COLUMN target text NOT NULL DEFAULT 'erp'",
            "DROP INDEX outbox_lines",
            "CREATE INDEX outbox_lines ON outbox_actions (target, account_id, seq) WHERE status IN ('pending', 'dead')",
        ]),
        ("v8: reconciliation", [
            // Arbiter's side of a reconciliation: money actions by the time they were approved.
            "CREATE INDEX outbox_money ON outbox_actions (created_at, id) WHERE type IN ('credit_memo', 'refund')",
            """
            CREATE TABLE reconciliation_runs (
                id text PRIMARY KEY,
                mapping text NOT NULL,
                period_from text NOT NULL,
                period_to text NOT NULL,
                stale_before text NOT NULL,
                source text NOT NULL CHECK (source IN ('upload', 'pull')),
                target text,
                requested_by text NOT NULL,
                created_at text NOT NULL,
                counts text NOT NULL,
                exceptions bigint NOT NULL,
                exceptions_opened bigint NOT NULL,
                exceptions_closed bigint NOT NULL,
                report_sha256 text NOT NULL,
                manifest text NOT NULL
            )
            """,
            // Exceptions as work: one open row per mapping and subject, however many runs find it.
            """
            CREATE TABLE reconciliation_exceptions (
                id text PRIMARY KEY,
                mapping text NOT NULL,
                subject text NOT NULL,
                first_run text NOT NULL REFERENCES reconciliation_runs (id),
                last_run text NOT NULL REFERENCES reconciliation_runs (id),
                class text NOT NULL,
                reason text NOT NULL,
                action_id text,
                erp_key text,
                erp_document text,
                amount_minor bigint,
                currency text,
                owner text,
                state text NOT NULL CHECK (state IN ('open', 'resolved')),
                resolution text CHECK (resolution IN ('resend', 'cancel', 'accept', 'matched')),
                resolved_by text,
                resolved_at text,
                comment text,
                created_at text NOT NULL,
                updated_at text NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX reconciliation_open ON reconciliation_exceptions (mapping, subject) WHERE state = 'open'",
            "CREATE INDEX reconciliation_exceptions_run ON reconciliation_exceptions (last_run)",
            """
            CREATE TABLE reconciliation_mappings (
                name text PRIMARY KEY,
                definition text NOT NULL,
                updated_by text NOT NULL,
                updated_at text NOT NULL
            )
            """,
        ]),
    ]

    static func migrate(_ client: PostgresClient, logger: Logger) async throws {
        try await client.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(\(lockKey))", logger: logger)
            do {
                try await connection.query("""
                    CREATE TABLE IF NOT EXISTS arbiter_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())
                    """, logger: logger)
                var applied = Set<String>()
                for try await name in try await connection.query("SELECT name FROM arbiter_migrations", logger: logger).decode(String.self) {
                    applied.insert(name)
                }
                for migration in migrations where !applied.contains(migration.name) {
                    logger.info("migrating", metadata: ["migration": "\(migration.name)"])
                    let name = migration.name
                    try await connection.withTransaction(logger: logger) { connection in
                        for statement in migration.sql {
                            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        }
                        try await connection.query("INSERT INTO arbiter_migrations (name) VALUES (\(name))", logger: logger)
                    }
                }
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
                throw error
            }
            try await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
        }
    }
}
