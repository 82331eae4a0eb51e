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
