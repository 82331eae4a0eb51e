import ArbiterApp
import ArbiterCore
import ArbiterPostgres
import ArbiterSQLite
import ArgumentParser
import Crypto
import Foundation
import Logging

extension Arbiter {
    struct Store: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Look after the store: online backups of the embedded one, a copy of it into PostgreSQL.",
            subcommands: [Backup.self, Copy.self])
    }
}

extension Arbiter.Store {
    struct Backup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy the embedded SQLite store to a new file while the service runs, then verify the copy's audit chain.")

        @Option(help: "The database file.")
        var db = "data/arbiter.sqlite"

        @Option(help: "The new file to write (never overwritten).")
        var to: String

        func run() async throws {
            let copy: AppDatabase
            do {
                copy = try AppDatabase.backup(path: db, to: to)
            } catch let refusal as Refusal {
                throw CommandFailure(refusal.message)
            }
            let size = (try? FileManager.default.attributesOfItem(atPath: to)[.size] as? Int) ?? 0
            print("backed up \(db) to \(to) (\(size) bytes)")
            switch try await AuditTrail(store: SQLiteAuditStore(database: copy, committer: nil)).verify() {
            case .intact(let count, let lastHash):
                print("the copy's audit chain is intact: \(count) entries, last hash \(lastHash)")
            case .broken(let seq, let reason):
                print("the copy's audit chain is broken at entry \(seq): \(reason)")
                throw ExitCode.failure
            }
        }
    }
}

extension Arbiter.Store {
    struct Copy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy an embedded installation (stopped) into a new, empty PostgreSQL database: every table, the audit chain byte for byte, the export keys.",
            discussion: """
                Stop the service first: the copy is of the file as it is. The target database must be empty (created, \
                never served). The export signing and masking keys in the file's directory move into the database \
                (sealed with ARBITER_KEY_ENCRYPTION_KEY when it is set), so exports and checkpoints signed before verify \
                with the same public key. Afterwards both audit chains are verified: same entries, same last hash.
                """)

        @Option(help: "The embedded store: sqlite:PATH (e.g. sqlite:data/arbiter.sqlite).")
        var from: String

        @Option(help: "The PostgreSQL database (postgres://…; default: $ARBITER_DATABASE_URL).")
        var to: String?

        func run() async throws {
            guard from.hasPrefix("sqlite:") else { throw ValidationError("--from must be sqlite:PATH, got '\(from)'") }
            let path = String(from.dropFirst("sqlite:".count))
            guard FileManager.default.fileExists(atPath: path) else { throw CommandFailure("no database at \(path)") }
            let environment = ProcessInfo.processInfo.environment
            guard let url = to ?? environment["ARBITER_DATABASE_URL"].flatMap({ $0.isEmpty ? nil : $0 }) else {
                throw ValidationError("--to (or ARBITER_DATABASE_URL) names the PostgreSQL database")
            }
            let source = try AppDatabase.openReadOnly(path: path)
            let target: PostgresBackend
            do {
                target = try await PostgresBackend.connect(url: url, logger: Logger(label: "arbiter.copy"))
            } catch let refusal as Refusal {
                throw CommandFailure(refusal.message)
            }
            defer { target.close() }
            do {
                try await PostgresImport.checkEmpty(target)
                for table in PostgresImport.tables {
                    let copied = Locked(0)
                    try await source.pages(table.select) { rows in
                        try await PostgresImport.insert(rows, into: table, target)
                        copied.withLock { $0 += rows.count }
                    }
                    print("\(table.name): \(copied.withLock { $0 }) rows")
                }
                try await PostgresImport.finish(target)
                try await copyKeys(directory: URL(fileURLWithPath: path).deletingLastPathComponent().path, to: target,
                                   environment: environment)
            } catch let refusal as Refusal {
                throw CommandFailure(refusal.message)
            }
            let before = try await AuditTrail(store: SQLiteAuditStore(database: source, committer: nil)).verify()
            let after = try await AuditTrail(store: PostgresStorage.auditReader(target)).verify()
            guard case .intact(let count, let lastHash) = after, before == after else {
                print("the copy's audit chain differs: \(after) (the file's: \(before))")
                throw ExitCode.failure
            }
            print("the copy's audit chain is intact and the same as the file's: \(count) entries, last hash \(lastHash)")
        }

        /// The export keys beside the file, made the database's (an instance started on it later
        /// finds them instead of making new ones).
        func copyKeys(directory: String, to target: PostgresBackend, environment: [String: String]) async throws {
            let secrets = PostgresSecrets(backend: target, keyEncryptionKey: try PostgresSecrets.keyEncryptionKey(environment: environment))
            if let signing = try ExportSigningKey.load(in: directory) {
                let mine = signing.privateKeyBytes
                guard try await secrets.secret(named: "export-signing-key", make: { mine }) == mine else {
                    throw CommandFailure("the database already has another export signing key")
                }
                print("export signing key: moved (public key \(signing.publicKeyText))")
            }
            let maskingFile = URL(fileURLWithPath: directory).appendingPathComponent(ExportMasking.keyFileName).path
            if FileManager.default.fileExists(atPath: maskingFile) {
                let key = try ExportMasking.loadOrCreateKey(in: directory).withUnsafeBytes { Array($0) }
                guard try await secrets.secret(named: "export-masking-key", make: { key }) == key else {
                    throw CommandFailure("the database already has another export masking key")
                }
                print("export masking key: moved")
            }
        }
    }
}
