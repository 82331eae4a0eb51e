import ArbiterCore
import ArbiterStore
import ArgumentParser
import Foundation

extension Arbiter {
    struct Audit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the audit trail; show the key export manifests are signed with.",
            subcommands: [Verify.self, PublicKey.self])
    }
}

extension Arbiter.Audit {
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the audit hash chain; name the first broken entry.")

        @Option(help: "The database file (e.g. data/arbiter.sqlite).")
        var db: String

        func run() async throws {
            guard FileManager.default.fileExists(atPath: db) else { throw CommandFailure("no database at \(db)") }
            let database = try AppDatabase.openReadOnly(path: db)
            switch try await database.verifyAudit() {
            case .intact(let count, let lastHash):
                print("audit chain intact: \(count) entries, last hash \(lastHash)")
            case .broken(let seq, let reason):
                print("audit chain broken at entry \(seq): \(reason)")
                throw ExitCode.failure
            }
        }
    }
}

extension Arbiter.Audit {
    struct PublicKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "public-key",
            abstract: "Print the public key export manifests are signed with (ed25519:<base64>), from the data directory of a database.")

        @Option(help: "The database file (e.g. data/arbiter.sqlite); the key is beside it (created there if missing).")
        var db: String

        func run() throws {
            guard FileManager.default.fileExists(atPath: db) else { throw CommandFailure("no database at \(db)") }
            let directory = URL(fileURLWithPath: db).deletingLastPathComponent().path
            do {
                print(try ExportSigningKey.loadOrCreate(in: directory).publicKeyText)
            } catch {
                throw CommandFailure("\(error)")
            }
        }
    }
}
