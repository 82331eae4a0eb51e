import ArbiterApp
import ArbiterCore
@testable import ArbiterSQLite
import Foundation
import GRDB
import Testing

@Suite(.timeLimit(.minutes(5))) struct AuditLogTests {
    func temporaryDatabase() throws -> (AppDatabase, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("arbiter-\(UUID().uuidString)")
        let path = dir.appendingPathComponent("arbiter.sqlite").path
        return (try AppDatabase.open(path: path), path)
    }

    func appendSome(_ database: AppDatabase, count: Int) async throws {
        try await database.writer.write { db in
            for i in 1...count {
                try AuditLog.append(db, actor: "key_\(i % 3)", kind: "event.received", subject: "evt_\(i)",
                                    correlationId: i % 2 == 0 ? "case_\(i)" : nil,
                                    data: ["amount_minor": .int(Int64(i * 100)), "note": "naïve \"quote\"\n"])
            }
        }
    }

    @Test func appendsBuildAnIntactChain() async throws {
        let database = try AppDatabase.inMemory()
        try await appendSome(database, count: 5)
        let entries = try await database.writer.read { db in try AuditLog.entries(db) }
        #expect(entries.map(\.seq) == [1, 2, 3, 4, 5])
        #expect(entries[0].prevHash == AuditEntry.genesisHash)
        for (previous, entry) in zip(entries, entries.dropFirst()) { #expect(entry.prevHash == previous.hash) }
        #expect(try await database.verifyAudit() == .intact(count: 5, lastHash: entries[4].hash))
    }

    @Test func hashIsSHA256OfPreviousHashAndCanonicalJSON() {
        // Recomputed independently with Python:
        // hashlib.sha256(bytes(32) + json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())
        let entry = AuditEntry.make(seq: 1, at: "2026-11-22T00:00:00.000000Z", actor: "system", kind: "test", subject: "s",
                                    correlationId: nil, data: ["n": 1], prevHash: AuditEntry.genesisHash)
        #expect(entry.hash == "240ceb1e7142ce62156f282506a85e7ed06578373dade1d0212ec48ce335355e")
    }

    @Test func canonicalJSONMatchesPythonsSortedCompactForm() {
        let value: JSONValue = ["b": 1, "a": "é\n\"x\\\u{01}\t/", "c": [true, nil, ["z": -5, "y": "\u{2028}"]], "é": [:]]
        #expect(CanonicalJSON.string(value) == "{\"a\":\"é\\n\\\"x\\\\\\u0001\\t/\",\"b\":1,\"c\":[true,null,{\"y\":\"\u{2028}\",\"z\":-5}],\"é\":{}}")
    }

    @Test func triggersRefuseUpdateAndDelete() async throws {
        let database = try AppDatabase.inMemory()
        try await appendSome(database, count: 2)
        await #expect(throws: DatabaseError.self) {
            try await database.writer.write { db in try db.execute(sql: "UPDATE audit_log SET actor = 'mallory' WHERE seq = 1") }
        }
        await #expect(throws: DatabaseError.self) {
            try await database.writer.write { db in try db.execute(sql: "DELETE FROM audit_log WHERE seq = 2") }
        }
        #expect(try await database.verifyAudit() == .intact(count: 2, lastHash: try await database.writer.read { db in
            try String.fetchOne(db, sql: "SELECT hash FROM audit_log WHERE seq = 2")! }))
    }

    /// Tampering behind the service's back: drop the trigger on a raw connection, edit, restore.
    static func tamper(_ path: String, _ sql: String) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            let update = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'audit_log_no_update'")!
            let delete = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'audit_log_no_delete'")!
            try db.execute(sql: "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete")
            try db.execute(sql: sql)
            try db.execute(sql: update)
            try db.execute(sql: delete)
        }
    }

    @Test(arguments: [
        ("UPDATE audit_log SET data = '{\"amount_minor\":1}' WHERE seq = 3", Int64(3), "altered"),
        ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 7", Int64(7), "altered"),
        ("UPDATE audit_log SET hash = '00' WHERE seq = 4", Int64(4), "altered"),
        ("DELETE FROM audit_log WHERE seq = 5", Int64(5), "missing"),
        ("UPDATE audit_log SET at = '2020-01-01T00:00:00.000000Z' WHERE seq = 9", Int64(9), "altered"),
    ])
    func verifyNamesTheFirstTamperedEntry(sql: String, seq: Int64, reason: String) async throws {
        let (database, path) = try temporaryDatabase()
        try await appendSome(database, count: 10)
        try await database.writer.close()
        try Self.tamper(path, sql)
        let reopened = try AppDatabase.openReadOnly(path: path)
        guard case .broken(let brokenSeq, let why) = try await reopened.verifyAudit() else {
            Issue.record("tampering not detected")
            return
        }
        #expect(brokenSeq == seq)
        #expect(why.contains(reason), "\(why)")
    }

    @Test func rehashingAnEditedEntryStillBreaksTheNextLink() async throws {
        let (database, path) = try temporaryDatabase()
        try await appendSome(database, count: 4)
        try await database.writer.close()
        // A careful forger recomputes entry 2's hash after editing it; entry 3 still points at the old one.
        let queue = try DatabaseQueue(path: path)
        let forged = try await queue.read { db -> AuditEntry in
            let row = try Row.fetchOne(db, sql: "SELECT * FROM audit_log WHERE seq = 2")!
            return AuditEntry.make(seq: 2, at: row["at"], actor: "mallory", kind: row["kind"], subject: row["subject"],
                                   correlationId: row["correlation_id"], data: ["amount_minor": 1], prevHash: row["prev_hash"])
        }
        try await queue.close()
        try Self.tamper(path, "UPDATE audit_log SET actor = 'mallory', data = '{\"amount_minor\":1}', hash = '\(forged.hash)' WHERE seq = 2")
        let result = try await AppDatabase.openReadOnly(path: path).verifyAudit()
        #expect(result == .broken(seq: 3, reason: "prev_hash does not match the hash of entry 2"))
    }
}

@Suite(.timeLimit(.minutes(5))) struct SchemaTests {
    @Test func migrationsCreateEveryTableOfTheDesign() async throws {
        let database = try AppDatabase.inMemory()
        let tables = try await database.writer.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'grdb_%' ORDER BY name")
        }
        #expect(tables == ["account_refs", "accounts", "api_keys", "audit_checkpoints", "audit_log", "backtests", "decisions", "events", "inbound_messages", "inbound_objects", "inbound_sources", "mapping_active", "mapping_versions", "outbox_actions", "outbox_attempts", "policy_proposals", "policy_shadows", "policy_version_history", "policy_versions", "reconciliation_exceptions", "reconciliation_mappings", "reconciliation_runs",
                          "review_history", "review_items", "shadow_differences"])
    }

    @Test func fileDatabaseUsesWALAndFullSync() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("arbiter-\(UUID().uuidString)/a.sqlite").path
        let database = try AppDatabase.open(path: path)
        let (mode, sync, foreignKeys) = try await database.writer.write { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"),
             try Int.fetchOne(db, sql: "PRAGMA foreign_keys"))
        }
        #expect(mode == "wal")
        #expect(sync == 2)   // FULL
        #expect(foreignKeys == 1)
    }

    @Test func theFirstStartCreatesOneAdminKeyStoredHashed() async throws {
        let database = try AppDatabase.inMemory()
        let keys = Keys(store: SQLiteKeyStore(database: database))
        let key = try #require(try await keys.createFirstAdmin())
        #expect(key.key.role == .admin)
        #expect(key.secret.hasPrefix("arb_"))
        #expect(try await keys.createFirstAdmin() == nil)
        let stored = try await database.writer.read { db in try String.fetchOne(db, sql: "SELECT key_hash FROM api_keys")! }
        #expect(stored == sha256Hex(Array(key.secret.utf8)))
        #expect(stored != key.secret)
        let audit = try await database.writer.read { db in try AuditLog.entries(db) }
        #expect(audit.map(\.kind) == ["key.created"])
        #expect(!CanonicalJSON.string(audit[0].data).contains(key.secret))
    }
}
