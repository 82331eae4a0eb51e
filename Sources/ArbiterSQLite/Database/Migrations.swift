import GRDB

/// Schema migrations. Shipped migrations are never edited: add a new one instead.
enum Migrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: events, decisions, reviews, outbox, audit, policies, accounts, keys") { db in
            try db.execute(sql: """
                CREATE TABLE api_keys (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    role TEXT NOT NULL CHECK (role IN ('submitter', 'reviewer', 'policy_admin', 'auditor', 'operator', 'admin')),
                    key_hash TEXT NOT NULL UNIQUE,           -- SHA-256 (hex) of the secret; the secret is never stored
                    approval_limit_minor INTEGER,            -- reviewers: most money one approval may move
                    created_at TEXT NOT NULL,
                    created_by TEXT NOT NULL,
                    revoked_at TEXT
                );

                CREATE TABLE accounts (
                    id TEXT PRIMARY KEY,
                    status TEXT NOT NULL CHECK (status IN ('active', 'past_due', 'suspended', 'closed')),
                    tier TEXT,
                    mrr_minor INTEGER NOT NULL DEFAULT 0,
                    currency TEXT,
                    open_balance_minor INTEGER NOT NULL DEFAULT 0,
                    days_past_due INTEGER NOT NULL DEFAULT 0,
                    entitlements TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
                    updated_at TEXT NOT NULL
                );

                CREATE TABLE events (
                    id TEXT PRIMARY KEY,                     -- Arbiter's id (UUIDv7, time-ordered)
                    source TEXT NOT NULL,
                    external_id TEXT NOT NULL,               -- the producer's id
                    type TEXT NOT NULL,
                    account_id TEXT NOT NULL,
                    correlation_id TEXT NOT NULL,
                    occurred_at TEXT NOT NULL,               -- normalized UTC (Timestamp.format): compares as text
                    received_at TEXT NOT NULL,
                    submitted_by TEXT NOT NULL,              -- API key id
                    body_sha256 TEXT NOT NULL,               -- for idempotent replays
                    body TEXT NOT NULL,                      -- the envelope as submitted (JSON)
                    amount_minor INTEGER,
                    currency TEXT,
                    UNIQUE (source, external_id)
                );
                CREATE INDEX events_account ON events (account_id, received_at);
                CREATE INDEX events_correlation ON events (correlation_id);

                CREATE TABLE decisions (
                    id TEXT PRIMARY KEY,
                    event_id TEXT NOT NULL UNIQUE REFERENCES events (id),
                    account_id TEXT NOT NULL,
                    outcome TEXT NOT NULL CHECK (outcome IN ('approve', 'review', 'reject', 'recorded')),
                    queue TEXT,
                    reasons TEXT NOT NULL,                   -- JSON array
                    actions TEXT NOT NULL,                   -- JSON array
                    policies TEXT NOT NULL,                  -- JSON: each policy's name, version, outcome, reasons, duration, error
                    context TEXT NOT NULL,                   -- JSON: the context snapshot as evaluated
                    response TEXT NOT NULL,                  -- the response body, replayed for idempotent resubmissions
                    decided_at TEXT NOT NULL,
                    duration_us INTEGER NOT NULL
                );
                CREATE INDEX decisions_account ON decisions (account_id, decided_at);
                CREATE INDEX decisions_outcome ON decisions (outcome, decided_at);

                CREATE TABLE review_items (
                    id TEXT PRIMARY KEY,
                    decision_id TEXT NOT NULL UNIQUE REFERENCES decisions (id),
                    event_id TEXT NOT NULL REFERENCES events (id),
                    account_id TEXT NOT NULL,
                    queue TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('open', 'claimed', 'escalated', 'approved', 'rejected')),
                    submitted_by TEXT NOT NULL,
                    approvals_required INTEGER NOT NULL DEFAULT 1,
                    approvals_given INTEGER NOT NULL DEFAULT 0,
                    claimed_by TEXT,
                    claimed_at TEXT,
                    claim_expires_at TEXT,
                    sla_due_at TEXT,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    decided_at TEXT
                );
                CREATE INDEX review_items_queue ON review_items (queue, state, created_at);

                CREATE TABLE outbox_actions (
                    id TEXT PRIMARY KEY,                     -- also the ERP Idempotency-Key
                    decision_id TEXT NOT NULL REFERENCES decisions (id),
                    review_id TEXT REFERENCES review_items (id),
                    account_id TEXT NOT NULL,
                    correlation_id TEXT NOT NULL,
                    type TEXT NOT NULL,
                    amount_minor INTEGER,
                    currency TEXT,
                    payload TEXT NOT NULL,                   -- JSON sent to the ERP
                    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead', 'cancelled')),
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at TEXT,
                    erp_reference TEXT,
                    last_error TEXT,
                    created_at TEXT NOT NULL,
                    delivered_at TEXT
                );
                CREATE INDEX outbox_pending ON outbox_actions (account_id, created_at) WHERE status = 'pending';

                CREATE TABLE policy_versions (
                    name TEXT NOT NULL,
                    version TEXT NOT NULL,                   -- SHA-256 (hex) of the source
                    file TEXT NOT NULL,
                    source TEXT NOT NULL,
                    tests TEXT,                              -- JSON test cases, if any
                    status TEXT NOT NULL CHECK (status IN ('draft', 'active', 'shadow', 'retired')),
                    published_by TEXT NOT NULL,
                    published_at TEXT NOT NULL,
                    activated_at TEXT,
                    PRIMARY KEY (name, version)
                );
                CREATE UNIQUE INDEX policy_versions_one_active ON policy_versions (name) WHERE status = 'active';

                CREATE TABLE audit_log (
                    seq INTEGER PRIMARY KEY,                 -- 1, 2, 3, ... without gaps
                    at TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    correlation_id TEXT,
                    data TEXT NOT NULL,                      -- canonical JSON
                    prev_hash TEXT NOT NULL,
                    hash TEXT NOT NULL
                );
                CREATE INDEX audit_log_correlation ON audit_log (correlation_id) WHERE correlation_id IS NOT NULL;
                CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
                    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
                CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
                    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
                """)
        }
        migrator.registerMigration("v2: indexes for the context every decision reads") { db in
            // ctx.history sums an account's money actions and counts its open disputes on every
            // decision: without these, each decision would scan the whole outbox.
            try db.execute(sql: """
                CREATE INDEX outbox_account_history ON outbox_actions (account_id, type, created_at);
                CREATE INDEX review_items_account ON review_items (account_id, state);
                CREATE INDEX events_account_type ON events (account_id, type, occurred_at);
                -- Every index costs a random page write per event; these two served no query.
                DROP INDEX events_account;
                DROP INDEX events_correlation;
                """)
        }
        migrator.registerMigration("v3: review history, escalation, approved amounts") { db in
            try db.execute(sql: """
                ALTER TABLE review_items ADD COLUMN escalated_at TEXT;
                ALTER TABLE review_items ADD COLUMN escalated_from TEXT;   -- the queue it was in before escalating
                ALTER TABLE review_items ADD COLUMN decided_by TEXT;       -- the key that gave the final outcome
                ALTER TABLE review_items ADD COLUMN approved_amount_minor INTEGER;

                -- Every claim, release, approval, rejection, reassignment, expiry and escalation of
                -- an item, with who and why: what the console shows and four-eyes checks. The audit
                -- trail has the same facts, chained; this table is for reading them per item.
                CREATE TABLE review_history (
                    id INTEGER PRIMARY KEY,
                    review_id TEXT NOT NULL REFERENCES review_items (id),
                    at TEXT NOT NULL,
                    actor TEXT NOT NULL,                     -- API key id, or 'system'
                    action TEXT NOT NULL CHECK (action IN ('claimed', 'released', 'approved', 'rejected', 'reassigned',
                                                           'claim_expired', 'escalated')),
                    comment TEXT,
                    amount_minor INTEGER,                    -- approvals: the money agreed to
                    assignee TEXT                            -- reassignments: the new claimer
                );
                CREATE INDEX review_history_item ON review_history (review_id, id);

                -- The escalation sweep and the queue summaries read only waiting items.
                CREATE INDEX review_items_waiting ON review_items (queue, created_at) WHERE state IN ('open', 'claimed', 'escalated');
                CREATE INDEX review_items_due ON review_items (sla_due_at) WHERE state IN ('open', 'claimed') AND escalated_at IS NULL;
                CREATE INDEX review_items_claims ON review_items (claim_expires_at) WHERE state = 'claimed';
                """)
        }
        migrator.registerMigration("v4: ERP delivery attempts, dead letters, per-account lines") { db in
            try db.execute(sql: """
                ALTER TABLE outbox_actions ADD COLUMN last_status_code INTEGER;
                ALTER TABLE outbox_actions ADD COLUMN response_body TEXT;     -- a dead letter keeps what the ERP said
                ALTER TABLE outbox_actions ADD COLUMN updated_at TEXT;

                -- Every attempt to hand an action to the ERP.
                CREATE TABLE outbox_attempts (
                    id INTEGER PRIMARY KEY,
                    action_id TEXT NOT NULL REFERENCES outbox_actions (id),
                    at TEXT NOT NULL,
                    duration_us INTEGER NOT NULL,
                    status_code INTEGER,
                    error TEXT,
                    result TEXT NOT NULL CHECK (result IN ('delivered', 'retry', 'dead'))
                );
                CREATE INDEX outbox_attempts_action ON outbox_attempts (action_id, id);

                -- Each account's line: actions not yet delivered or cancelled, in rowid (insertion)
                -- order. The head of a line is its lowest rowid; a dead head holds the line.
                CREATE INDEX outbox_lines ON outbox_actions (account_id) WHERE status IN ('pending', 'dead');
                CREATE INDEX outbox_status ON outbox_actions (status);
                DROP INDEX outbox_pending;
                """)
        }
        migrator.registerMigration("v5: policy version history") { db in
            try db.execute(sql: """
                -- Every change of a policy version's status: published, activated, rolled_back,
                -- deactivated (and, later, proposals, approvals and shadowing), with who and when.
                CREATE TABLE policy_version_history (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL,
                    version TEXT NOT NULL,
                    change TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    at TEXT NOT NULL,
                    FOREIGN KEY (name, version) REFERENCES policy_versions (name, version)
                );
                CREATE INDEX policy_version_history_name ON policy_version_history (name, id);
                """)
        }
        migrator.registerMigration("v6: maker-checker proposals") { db in
            try db.execute(sql: """
                -- With maker-checker on, activating a version only proposes it; a second, different
                -- policy admin approves it, which activates it.
                CREATE TABLE policy_proposals (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL,
                    version TEXT NOT NULL,
                    proposed_by TEXT NOT NULL,
                    proposed_at TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'superseded')),
                    decided_by TEXT,
                    decided_at TEXT,
                    FOREIGN KEY (name, version) REFERENCES policy_versions (name, version)
                );
                CREATE UNIQUE INDEX policy_proposals_pending ON policy_proposals (name) WHERE state = 'pending';
                """)
        }
        migrator.registerMigration("v7: shadow mode and backtests") { db in
            try db.execute(sql: """
                -- Backtests and shadow reports read a policy's event types over a time range.
                CREATE INDEX events_type_received ON events (type, received_at);
                -- At most one version of a policy runs in shadow at a time.
                CREATE UNIQUE INDEX policy_versions_one_shadow ON policy_versions (name) WHERE status = 'shadow';

                -- Each time a version runs in shadow: from start to stop (stopped_at NULL while on).
                CREATE TABLE policy_shadows (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL,
                    version TEXT NOT NULL,
                    event_types TEXT NOT NULL,               -- JSON array: the types it decides
                    started_by TEXT NOT NULL,
                    started_at TEXT NOT NULL,
                    stopped_by TEXT,
                    stopped_at TEXT,
                    FOREIGN KEY (name, version) REFERENCES policy_versions (name, version)
                );
                CREATE UNIQUE INDEX policy_shadows_running ON policy_shadows (name) WHERE stopped_at IS NULL;

                -- A live decision the shadow version would have made differently.
                CREATE TABLE shadow_differences (
                    id INTEGER PRIMARY KEY,
                    shadow_id INTEGER NOT NULL REFERENCES policy_shadows (id),
                    event_id TEXT NOT NULL REFERENCES events (id),
                    decision_id TEXT NOT NULL REFERENCES decisions (id),
                    transition TEXT NOT NULL,                -- e.g. approve→review
                    outcome_changed INTEGER NOT NULL,        -- 0: same outcome, other queue or actions
                    actual TEXT NOT NULL,                    -- JSON: outcome, queue, reasons, actions
                    shadow TEXT NOT NULL,                    -- JSON: the same, as the shadow decided
                    at TEXT NOT NULL
                );
                CREATE INDEX shadow_differences_shadow ON shadow_differences (shadow_id, id);

                -- Backtest jobs and their reports.
                CREATE TABLE backtests (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    version TEXT NOT NULL,
                    range_from TEXT NOT NULL,
                    range_to TEXT NOT NULL,
                    row_limit INTEGER,
                    requested_by TEXT NOT NULL,
                    requested_at TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
                    total INTEGER NOT NULL,
                    finished_at TEXT,
                    report TEXT,                             -- JSON, when done
                    error TEXT,
                    FOREIGN KEY (name, version) REFERENCES policy_versions (name, version)
                );
                CREATE INDEX backtests_name ON backtests (name, requested_at);
                """)
        }
        migrator.registerMigration("v8: decision exports") { db in
            try db.execute(sql: """
                -- Decision exports stream decisions oldest first over a range, and fetch each
                -- decision's deliveries.
                CREATE INDEX decisions_decided ON decisions (decided_at);
                CREATE INDEX outbox_decision ON outbox_actions (decision_id);
                """)
        }
        migrator.registerMigration("v9: sync role, approval limits per currency, proposals of every change") { db in
            // SQLite cannot change a CHECK constraint: the table is rebuilt. A limit set before
            // currencies were known applies to the currencies with default ceilings.
            try db.execute(sql: """
                CREATE TABLE api_keys_v9 (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    role TEXT NOT NULL CHECK (role IN ('submitter', 'sync', 'reviewer', 'policy_admin', 'auditor', 'operator', 'admin')),
                    key_hash TEXT NOT NULL UNIQUE,
                    approval_limits TEXT,                    -- reviewers: JSON {currency: most minor units one approval moves}
                    created_at TEXT NOT NULL,
                    created_by TEXT NOT NULL,
                    revoked_at TEXT
                );
                INSERT INTO api_keys_v9 (id, name, role, key_hash, approval_limits, created_at, created_by, revoked_at)
                    SELECT id, name, role, key_hash,
                           CASE WHEN approval_limit_minor IS NULL THEN NULL
                                ELSE json_object('EUR', approval_limit_minor, 'GBP', approval_limit_minor, 'USD', approval_limit_minor) END,
                           created_at, created_by, revoked_at
                    FROM api_keys;
                DROP TABLE api_keys;
                ALTER TABLE api_keys_v9 RENAME TO api_keys;

                -- Signed statements of the audit chain's head (AuditCheckpoint), newest last.
                CREATE TABLE audit_checkpoints (
                    id INTEGER PRIMARY KEY,
                    seq INTEGER NOT NULL,
                    hash TEXT NOT NULL,
                    at TEXT NOT NULL,
                    key_id TEXT NOT NULL,
                    signature TEXT NOT NULL
                );

                -- Maker-checker covers every change to what decides live: what a proposal does.
                ALTER TABLE policy_proposals ADD COLUMN change TEXT NOT NULL DEFAULT 'activate'
                    CHECK (change IN ('activate', 'rollback', 'deactivate'));
                """)
        }
        migrator.registerMigration("v10: inbound webhooks, accounts' external references") { db in
            try db.execute(sql: """
                -- An account's ids in other systems ({"stripe": "cus_…"}): how a webhook's customer
                -- finds its account. One account per reference.
                CREATE TABLE account_refs (
                    system TEXT NOT NULL,
                    ref TEXT NOT NULL,
                    account_id TEXT NOT NULL,
                    PRIMARY KEY (system, ref)
                );
                CREATE INDEX account_refs_account ON account_refs (account_id);

                -- Webhooks that passed verification, stored before they were answered (the inbox).
                CREATE TABLE inbound_messages (
                    id TEXT PRIMARY KEY,
                    source TEXT NOT NULL,
                    external_id TEXT NOT NULL,
                    vendor_type TEXT,
                    received_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    headers TEXT NOT NULL,
                    body TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('processed', 'ignored', 'failed', 'unmatched')),
                    detail TEXT,
                    account_id TEXT,
                    events TEXT NOT NULL DEFAULT '[]',
                    ordering_key TEXT,
                    ordering_at INTEGER,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    UNIQUE (source, external_id)
                );
                CREATE INDEX inbound_messages_status ON inbound_messages (status, id);
                CREATE INDEX inbound_messages_ordering ON inbound_messages (source, ordering_key, ordering_at) WHERE status = 'processed';
                """)
        }
        migrator.registerMigration("v11: vendor objects learned from webhooks, mapping versions") { db in
            try db.execute(sql: """
                -- A vendor's payment objects (a Stripe charge or payment intent) with the customer and
                -- invoice earlier messages named them with: a dispute names only its charge.
                CREATE TABLE inbound_objects (
                    source TEXT NOT NULL,
                    object_id TEXT NOT NULL,
                    customer_system TEXT NOT NULL,
                    customer_ref TEXT NOT NULL,
                    invoice_id TEXT,
                    learned_at TEXT NOT NULL,
                    PRIMARY KEY (source, object_id)
                );

                -- Mapped sources' script versions, and which is live for each source.
                CREATE TABLE mapping_versions (
                    source TEXT NOT NULL,
                    version TEXT NOT NULL,
                    file TEXT NOT NULL,
                    script TEXT NOT NULL,
                    tests TEXT,
                    published_by TEXT NOT NULL,
                    published_at TEXT NOT NULL,
                    PRIMARY KEY (source, version)
                );
                CREATE TABLE mapping_active (
                    source TEXT PRIMARY KEY,
                    version TEXT NOT NULL,
                    activated_by TEXT NOT NULL,
                    activated_at TEXT NOT NULL
                );
                """)
        }
        migrator.registerMigration("v12: inbound sources configured through the API") { db in
            try db.execute(sql: """
                -- A source's definition as sources.json holds one, its secret values sealed; it takes
                -- the place of the file's source of its name.
                CREATE TABLE inbound_sources (
                    name TEXT PRIMARY KEY,
                    definition TEXT NOT NULL,
                    updated_by TEXT NOT NULL,
                    updated_at TEXT NOT NULL
                );
                """)
        }
        migrator.registerMigration("v13: outbox targets") { db in
            try db.execute(sql: """
                -- Where an action goes (the ERP, or an answer to the requester): each target has its
                -- own lines, so a dead letter holds only its own target's actions.
                ALTER TABLE outbox_actions ADD COLUMN target TEXT NOT NULL DEFAULT 'erp';
                DROP INDEX outbox_lines;
                CREATE INDEX outbox_lines ON outbox_actions (target, account_id) WHERE status IN ('pending', 'dead');
                """)
        }
        migrator.registerMigration("v14: reconciliation") { db in
            try db.execute(sql: ReconciliationSchema.sql)
        }
        return migrator
    }
}

/// The reconciliation tables (the same on PostgreSQL, with its types).
enum ReconciliationSchema {
    static let sql = """
        -- Arbiter's side of a reconciliation: money actions by the time they were approved.
        CREATE INDEX outbox_money ON outbox_actions (created_at, id) WHERE type IN ('credit_memo', 'refund');
        CREATE TABLE reconciliation_runs (
            id TEXT PRIMARY KEY,
            mapping TEXT NOT NULL,
            period_from TEXT NOT NULL,
            period_to TEXT NOT NULL,
            stale_before TEXT NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('upload', 'pull')),
            target TEXT,
            requested_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            counts TEXT NOT NULL,                    -- JSON: rows per class
            exceptions INTEGER NOT NULL,
            exceptions_opened INTEGER NOT NULL,
            exceptions_closed INTEGER NOT NULL,
            report_sha256 TEXT NOT NULL,
            manifest TEXT NOT NULL                   -- the signed manifest, as written beside the report
        );
        -- Exceptions as work: one open row per mapping and subject, however many runs find it.
        CREATE TABLE reconciliation_exceptions (
            id TEXT PRIMARY KEY,
            mapping TEXT NOT NULL,
            subject TEXT NOT NULL,
            first_run TEXT NOT NULL REFERENCES reconciliation_runs (id),
            last_run TEXT NOT NULL REFERENCES reconciliation_runs (id),
            class TEXT NOT NULL,
            reason TEXT NOT NULL,
            action_id TEXT,
            erp_key TEXT,
            erp_document TEXT,
            amount_minor INTEGER,
            currency TEXT,
            owner TEXT,
            state TEXT NOT NULL CHECK (state IN ('open', 'resolved')),
            resolution TEXT CHECK (resolution IN ('resend', 'cancel', 'accept', 'matched')),
            resolved_by TEXT,
            resolved_at TEXT,
            comment TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX reconciliation_open ON reconciliation_exceptions (mapping, subject) WHERE state = 'open';
        CREATE INDEX reconciliation_exceptions_run ON reconciliation_exceptions (last_run);
        CREATE TABLE reconciliation_mappings (
            name TEXT PRIMARY KEY,
            definition TEXT NOT NULL,
            updated_by TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        """
}
