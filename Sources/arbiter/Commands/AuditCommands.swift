import ArbiterApp
import ArbiterCore
import ArbiterPostgres
import ArbiterSQLite
import ArgumentParser
import Crypto
import Foundation
import Logging
import NIOHTTP1

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
        var db: String?

        @Option(help: "A PostgreSQL database instead (postgres://…; or $ARBITER_DATABASE_URL when neither is given). Nothing is changed.")
        var database: String?

        @Option(help: "A checkpoint kept outside the service (GET /v1/audit/checkpoint): the log must still hold its entry with its hash.")
        var checkpoint: String?

        @Option(name: .customLong("public-key"), help: "The published key (ed25519:<base64>) the checkpoint must be signed with (default: the key in the database's directory).")
        var publicKey: String?

        func run() async throws {
            let trail: AuditTrail
            var postgres: PostgresBackend?
            defer { postgres?.close() }
            switch (db, database ?? ProcessInfo.processInfo.environment["ARBITER_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }) {
            case (let db?, _):
                guard FileManager.default.fileExists(atPath: db) else { throw CommandFailure("no database at \(db)") }
                trail = AuditTrail(store: SQLiteAuditStore(database: try AppDatabase.openReadOnly(path: db), committer: nil))
            case (nil, let url?):
                let backend = try await PostgresBackend.connect(url: url, migrate: false, logger: Logger(label: "arbiter.verify"))
                postgres = backend
                trail = AuditTrail(store: PostgresStorage.auditReader(backend))
            case (nil, nil):
                throw ValidationError("give --db FILE or --database postgres://… (or ARBITER_DATABASE_URL)")
            }
            switch try await trail.verify() {
            case .intact(let count, let lastHash):
                print("audit chain intact: \(count) entries, last hash \(lastHash)")
            case .broken(let seq, let reason):
                print("audit chain broken at entry \(seq): \(reason)")
                throw ExitCode.failure
            }
            guard let checkpoint else { return }
            let saved = try readCheckpoint(checkpoint)
            if let problem = try await trail.check(saved) {
                print("checkpoint not met: \(problem)")
                throw ExitCode.failure
            }
            print("checkpoint met: entry \(saved.seq) has hash \(saved.hash) (signed \(saved.at))")
        }

        /// The checkpoint in `path`, after checking its signature.
        func readCheckpoint(_ path: String) throws -> AuditCheckpoint {
            guard let data = FileManager.default.contents(atPath: path) else { throw CommandFailure("cannot read \(path)") }
            let saved: AuditCheckpoint
            do {
                saved = try AuditCheckpoint(json: try JSONValue.parse(data))
            } catch {
                throw CommandFailure("\(path): not a checkpoint (\(error))")
            }
            let key: Curve25519.Signing.PublicKey
            if let publicKey {
                guard let text = try? String(contentsOfFile: publicKey, encoding: .utf8), let parsed = ExportSigningKey.publicKey(from: text) else {
                    throw CommandFailure("\(publicKey): not a public key (ed25519:<base64>)")
                }
                key = parsed
            } else {
                guard let db else { throw CommandFailure("on PostgreSQL, give the published key with --public-key to check a checkpoint") }
                let directory = URL(fileURLWithPath: db).deletingLastPathComponent().path
                guard let signing = try ExportSigningKey.load(in: directory) else {
                    throw CommandFailure("no signing key in \(directory) to check the checkpoint with; give --public-key")
                }
                key = signing.publicKey
            }
            guard saved.isSigned(by: key) else {
                throw CommandFailure("\(path): the checkpoint's signature does not match its contents and the public key")
            }
            return saved
        }
    }
}

extension Arbiter.Audit {
    struct PublicKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "public-key",
            abstract: "Print the public key export manifests are signed with (ed25519:<base64>), from the data directory of a database.")

        @Option(help: "The database file (e.g. data/arbiter.sqlite); the key is beside it. Nothing is created.")
        var db: String

        func run() throws {
            guard FileManager.default.fileExists(atPath: db) else { throw CommandFailure("no database at \(db)") }
            let directory = URL(fileURLWithPath: db).deletingLastPathComponent().path
            let key: ExportSigningKey?
            do { key = try ExportSigningKey.load(in: directory) } catch { throw CommandFailure("\(error)") }
            guard let key else {
                throw CommandFailure("no export signing key in \(directory) (\(ExportSigningKey.fileName)): the service creates it on its first start")
            }
            print(key.publicKeyText)
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
    /// database file (`--db`, signed and masked with the keys in its data directory) into
    /// `--out DIR`: the file and `manifest.json`, ready for `verify-export`.
    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export decisions or audit entries with a signed manifest into a directory (from a server, or from a database file with --db).")

        @Option(help: "decisions or audit.") var kind: String
        @Option(help: "Start (RFC 3339).") var from: String
        @Option(help: "End, excluded (RFC 3339).") var to: String
        @Option(help: "jsonl or csv.") var format = "jsonl"
        @Option(help: "Decisions: only this outcome (approve, review, reject, recorded).") var outcome: String?
        @Option(help: "Decisions: only those routed to this queue.") var queue: String?
        @Option(help: "Decisions: only those this policy took part in.") var policy: String?
        @Option(name: .customLong("account-id"), help: "Decisions: only this account's.") var accountId: String?
        @Option(help: "Only entries by this actor (audit), or decisions submitted by this key id.") var actor: String?
        @Option(name: .customLong("entry-kind"), help: "Audit: only entries of this kind (e.g. decision.made).") var entryKind: String?
        @Option(help: "The directory to create (must not exist).") var out: String
        @Option(help: "Read this database file directly instead of asking a server.") var db: String?
        @Option(help: "With --db: the export settings naming masked fields (default: Policies/exports.json if there is one).")
        var exports: String?
        @OptionGroup var server: ServerOptions

        /// The request as the server would read it: the same checks, the same words.
        func request() throws -> ExportRequest {
            var filters: [String: JSONValue] = [:]
            for (name, value) in [("outcome", outcome), ("queue", queue), ("policy", policy), ("account_id", accountId),
                                  ("actor", actor), ("kind", entryKind)] {
                if let value { filters[name] = .string(value) }
            }
            do {
                return try ExportRequest.parse(["kind": .string(kind), "from": .string(from), "to": .string(to),
                                                "format": .string(format), "filters": .object(filters)])
            } catch let invalid as Refusal {
                let options = ["filters.kind": "--entry-kind", "filters.account_id": "--account-id"]
                throw CommandFailure(invalid.errors.map { error in
                    let option = options[error.field] ?? "--" + (error.field.split(separator: ".").last.map(String.init) ?? error.field)
                    return "\(option): \(error.message)"
                }.joined(separator: "\n"))
            }
        }

        func run() async throws {
            let request = try request()
            guard !FileManager.default.fileExists(atPath: out) else { throw CommandFailure("\(out) already exists") }
            let manifest: JSONValue
            if let db {
                guard FileManager.default.fileExists(atPath: db) else { throw CommandFailure("no database at \(db)") }
                let database = try AppDatabase.openReadOnly(path: db)
                let dataDirectory = URL(fileURLWithPath: db).deletingLastPathComponent().path
                let key = try ExportSigningKey.loadOrCreate(in: dataDirectory)
                let fallback = "Policies/exports.json"
                let settings = exports ?? (FileManager.default.fileExists(atPath: fallback) ? fallback : nil)
                let paths = try settings.map { path in try Arbiter.Serve.readSettings(path) { try ExportMasking.paths(from: $0) } } ?? []
                let masking = ExportMasking(paths: paths, key: try ExportMasking.loadOrCreateKey(in: dataDirectory))
                let user = "cli:" + (ProcessInfo.processInfo.environment["USER"] ?? "unknown")
                let target = URL(fileURLWithPath: out)
                manifest = try await Exports.export(request, from: SQLiteAuditStore(database: database, committer: nil),
                                                    id: Identifier.make(now: Date()), to: target, by: user, key: key, masking: masking)
            } else {
                var job = try await server.call(.POST, "/v1/exports", body: request.json)
                let id = cell(job["id"])
                let bar = ProgressBar()
                while job["status"] == "running" {
                    bar.show(rows: job["rows_written"]?.intValue ?? 0)
                    try await Task.sleep(for: .milliseconds(250))
                    job = try await server.call(.GET, "/v1/exports/\(id)")
                }
                bar.finish()
                guard job["status"] == "done", let fetched = job["manifest"], let file = fetched["file"]?.stringValue, !file.contains("/") else {
                    throw CommandFailure("export \(id) \(cell(job["status"])): \(cell(job["error"]))")
                }
                let partial = URL(fileURLWithPath: out + ".partial")
                try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                try await server.download("/v1/exports/\(id)/file", to: partial.appendingPathComponent(file))
                try Data(CanonicalJSON.encode(fetched) + [0x0A]).write(to: partial.appendingPathComponent("manifest.json"))
                try FileManager.default.moveItem(at: partial, to: URL(fileURLWithPath: out))
                manifest = fetched
            }
            let what = request.kind == .audit ? "audit entries" : "decisions"
            print("exported \(cell(manifest["rows"])) \(what) (audit seq \(cell(manifest["first_seq"])) to \(cell(manifest["last_seq"]))) into \(out)/\(cell(manifest["file"]))")
            if let masked = manifest["masked_fields"]?.arrayValue, !masked.isEmpty {
                print("masked: \(masked.map { cell($0) }.joined(separator: ", "))")
            }
            print("check it with: arbiter audit verify-export \(out) --public-key <file with the output of arbiter audit public-key>")
        }
    }
}
