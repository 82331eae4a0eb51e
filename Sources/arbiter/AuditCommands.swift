import ArbiterCore
import ArbiterStore
import ArgumentParser
import Foundation

extension Arbiter {
    struct Audit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the audit trail; show the key export manifests are signed with.",
            subcommands: [Verify.self, PublicKey.self, Export.self, VerifyExport.self])
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

extension Arbiter.Audit {
    /// Checks an export offline: the manifest's signature against the given public key, the
    /// file's SHA-256 and row count against the manifest, and for an audit export every entry's
    /// hash, the chain between them and its ends against the manifest. Reads the file once, a
    /// block at a time.
    struct VerifyExport: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify-export",
            abstract: "Check an export directory (manifest.json and its file) offline; exit 1 naming the first problem.")

        @Argument(help: "The export's directory (manifest.json and the file it names).")
        var directory: String

        @Option(name: .customLong("public-key"), help: "File with the public key (ed25519:<base64>), from arbiter audit public-key.")
        var publicKey: String

        func run() throws {
            let folder = URL(fileURLWithPath: directory)
            guard let keyText = try? String(contentsOfFile: publicKey, encoding: .utf8) else { throw CommandFailure("cannot read \(publicKey)") }
            guard let key = ExportSigningKey.publicKey(from: keyText) else {
                throw CommandFailure("\(publicKey): not a public key (expected ed25519:<base64 of 32 bytes>)")
            }
            switch ExportVerifier.verify(directory: folder, publicKey: key) {
            case .verified(let summary):
                print("export verified: \(summary)")
            case .failed(let problem):
                print("export NOT verified: \(problem)")
                throw ExitCode.failure
            }
        }
    }
}

extension Arbiter.Audit {
    /// Exports from a running server (`--server`, key in ARBITER_KEY) or straight from a
    /// database file (`--db`, signed with the key in its data directory) into `--out DIR`:
    /// the file and `manifest.json`, ready for `verify-export`.
    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export audit entries with a signed manifest into a directory (from a server, or from a database file with --db).")

        @Option(help: "audit (decision exports are not available yet).") var kind = "audit"
        @Option(help: "Start (RFC 3339).") var from: String
        @Option(help: "End, excluded (RFC 3339).") var to: String
        @Option(help: "jsonl.") var format = "jsonl"
        @Option(help: "Only entries by this actor.") var actor: String?
        @Option(name: .customLong("entry-kind"), help: "Only entries of this kind (e.g. decision.made).") var entryKind: String?
        @Option(help: "The directory to create (must not exist).") var out: String
        @Option(help: "Read this database file directly instead of asking a server.") var db: String?
        @OptionGroup var server: ServerOptions

        func run() async throws {
            guard kind == "audit" else { throw CommandFailure("--kind \(kind): only audit exports are available yet") }
            guard format == "jsonl" else { throw CommandFailure("--format \(format): only jsonl is available yet") }
            guard !FileManager.default.fileExists(atPath: out) else { throw CommandFailure("\(out) already exists") }
            let manifest: JSONValue
            if let db {
                guard let start = Timestamp.parse(from) else { throw CommandFailure("--from: not an RFC 3339 timestamp") }
                guard let end = Timestamp.parse(to), end > start else { throw CommandFailure("--to: an RFC 3339 timestamp after --from") }
                guard FileManager.default.fileExists(atPath: db) else { throw CommandFailure("no database at \(db)") }
                let database = try AppDatabase.openReadOnly(path: db)
                let key = try ExportSigningKey.loadOrCreate(in: URL(fileURLWithPath: db).deletingLastPathComponent().path)
                let filter = AuditExport.Filter(from: start, to: end, actor: actor, kind: entryKind)
                let user = "cli:" + (ProcessInfo.processInfo.environment["USER"] ?? "unknown")
                let target = URL(fileURLWithPath: out)
                manifest = try await database.writer.read { db in
                    try AuditExport.export(db, filter, id: Identifier.make(now: Date()), to: target, by: user, key: key)
                }
            } else {
                var filters: [String: JSONValue] = [:]
                if let actor { filters["actor"] = .string(actor) }
                if let entryKind { filters["kind"] = .string(entryKind) }
                let created = try await server.call(.POST, "/v1/exports", body: [
                    "kind": .string(kind), "from": .string(from), "to": .string(to), "format": .string(format), "filters": .object(filters),
                ])
                guard let id = created["id"]?.stringValue, let fetched = created["manifest"],
                      let file = fetched["file"]?.stringValue, !file.contains("/") else {
                    throw CommandFailure("the server's answer has no export id and manifest")
                }
                let partial = URL(fileURLWithPath: out + ".partial")
                try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                try await server.download("/v1/exports/\(id)/file", to: partial.appendingPathComponent(file))
                try Data(CanonicalJSON.encode(fetched) + [0x0A]).write(to: partial.appendingPathComponent("manifest.json"))
                try FileManager.default.moveItem(at: partial, to: URL(fileURLWithPath: out))
                manifest = fetched
            }
            print("exported \(cell(manifest["rows"])) audit entries (seq \(cell(manifest["first_seq"])) to \(cell(manifest["last_seq"]))) into \(out)")
            print("check it with: arbiter audit verify-export \(out) --public-key <file with the output of arbiter audit public-key>")
        }
    }
}
