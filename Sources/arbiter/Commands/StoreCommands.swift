import ArbiterApp
import ArbiterCore
import ArbiterSQLite
import ArgumentParser
import Foundation

extension Arbiter {
    struct Store: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Look after the embedded store: online backups.",
            subcommands: [Backup.self])
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
