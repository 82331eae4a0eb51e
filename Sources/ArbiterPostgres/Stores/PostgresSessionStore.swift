import ArbiterApp
import ArbiterCore
import Foundation
import PostgresNIO

/// Console sessions in PostgreSQL (`console_sessions`): a reviewer signed in through one
/// instance is signed in through every other.
struct PostgresSessionStore: SessionStore {
    let backend: PostgresBackend

    func add(tokenHash: String, _ session: ConsoleSession, perKey: Int, total: Int) async throws {
        let created = Timestamp.format(session.createdAt)
        try await backend.transaction { unit in
            // One key's sign-ins take turns, so its bound holds however many instances it uses.
            try await unit.run("SELECT pg_advisory_xact_lock(hashtextextended(\(session.keyHash), 1))")
            try await unit.run("""
                DELETE FROM console_sessions WHERE token_hash IN (
                    SELECT token_hash FROM console_sessions WHERE key_hash = \(session.keyHash)
                    ORDER BY created_at DESC OFFSET \(Int64(perKey - 1)))
                """)
            try await unit.run("DELETE FROM console_sessions WHERE expires_at <= \(created)")
            try await unit.run("""
                DELETE FROM console_sessions WHERE token_hash IN (
                    SELECT token_hash FROM console_sessions ORDER BY created_at DESC OFFSET \(Int64(total - 1)))
                """)
            try await unit.run("""
                INSERT INTO console_sessions (token_hash, key_hash, csrf, created_at, expires_at)
                VALUES (\(tokenHash), \(session.keyHash), \(session.csrf), \(created), \(Timestamp.format(session.expiresAt)))
                """)
        }
    }

    func session(tokenHash: String, now: Date) async throws -> ConsoleSession? {
        try await backend.read { unit in
            try await unit.row("""
                SELECT key_hash, csrf, created_at, expires_at FROM console_sessions
                WHERE token_hash = \(tokenHash) AND expires_at > \(Timestamp.format(now))
                """).map { row in
                ConsoleSession(keyHash: try row["key_hash"], csrf: try row["csrf"],
                               createdAt: Timestamp.parse(try row["created_at"]) ?? now,
                               expiresAt: Timestamp.parse(try row["expires_at"]) ?? now)
            }
        }
    }

    func remove(tokenHash: String) async throws {
        try await backend.transaction { unit in try await unit.run("DELETE FROM console_sessions WHERE token_hash = \(tokenHash)") }
    }
}
