import ArbiterCore
import Foundation
import GRDB

/// Arbiter's database: one SQLite file (WAL, `synchronous=FULL`), migrated on open.
///
/// A write that returns has reached the disk: with `synchronous=FULL` SQLite syncs the WAL on
/// every commit, so a 2xx response backed by a committed transaction survives a crash.
public struct AppDatabase: Sendable {
    public let writer: any DatabaseWriter

    /// Wraps a writer and runs the migrations.
    public init(_ writer: any DatabaseWriter) throws {
        self.writer = writer
        try Migrations.migrator.migrate(writer)
    }

    private init(unmigrated writer: any DatabaseWriter) {
        self.writer = writer
    }

    /// Opens an existing database file read-only, without migrating it: for verification,
    /// which must never change what it checks.
    public static func openReadOnly(path: String) throws -> AppDatabase {
        var config = Configuration()
        config.readonly = true
        return AppDatabase(unmigrated: try DatabaseQueue(path: path, configuration: config))
    }

    /// Copies the database at `path` to the new file `destination` while the service may be
    /// writing it: SQLite's online backup, every page in one step under one read transaction, so
    /// the copy is the database as of one commit (WAL readers do not block the writer). Refuses
    /// to overwrite a file. Returns the copy, opened read-only.
    public static func backup(path: String, to destination: String) throws -> AppDatabase {
        guard FileManager.default.fileExists(atPath: path) else {
            throw Refusal.notFound("no database at \(path)")
        }
        guard !FileManager.default.fileExists(atPath: destination) else {
            throw Refusal.conflict("\(destination) exists already; a backup never overwrites a file")
        }
        var config = Configuration()
        config.readonly = true
        let source = try DatabaseQueue(path: path, configuration: config)
        do {
            let copy = try DatabaseQueue(path: destination)
            try source.backup(to: copy)
            try copy.close()
        } catch {
            try? FileManager.default.removeItem(atPath: destination)
            throw error
        }
        try source.close()
        return try openReadOnly(path: destination)
    }

    /// Opens (creating if needed) the database file at `path`.
    public static func open(path: String) throws -> AppDatabase {
        // The data directory holds the keys too: only its owner may use it.
        try SecretFile.prepareDirectory(URL(fileURLWithPath: path).deletingLastPathComponent().path)
        let pool = try DatabasePool(path: path, configuration: configuration())
        // GRDB's pool switches the writer to synchronous=NORMAL when it enables WAL (after
        // prepareDatabase runs). Durability is the contract here, so set FULL on the writer,
        // the only connection that commits.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        return try AppDatabase(pool)
    }

    /// An in-memory database for tests.
    public static func inMemory() throws -> AppDatabase {
        try AppDatabase(DatabaseQueue(configuration: configuration()))
    }

    static func configuration() -> Configuration {
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(5)
        config.prepareDatabase { db in
            // Statement journals (inserts inside a multi-event transaction) stay in memory.
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
            // Readers map the file: a WAL reader drops its page cache whenever another connection
            // committed, and would read every page again with a system call.
            if db.configuration.readonly { try db.execute(sql: "PRAGMA mmap_size = 1073741824") }
        }
        return config
    }

    /// Whether the database answers (for /readyz).
    public func isReachable() async -> Bool {
        (try? await writer.read { db in try Int.fetchOne(db, sql: "SELECT 1") }) == 1
    }
}
