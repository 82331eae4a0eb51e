import ArbiterApp
import ArbiterCore
import ArbiterSQLite
import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1

extension Arbiter {
    /// `arbiter reconcile`: Arbiter's money actions against the ERP's export, through a server or
    /// straight on a database file; the report, the ERP's file as read and the signed manifest
    /// land in `--out`.
    struct Reconcile: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reconcile approved credits and refunds with the ERP's export (CSV) into a directory with a signed manifest (from a server, or a database file with --db).")

        @Option(name: .customLong("erp-file"), help: "The ERP's export, CSV with a header row.") var erpFile: String?
        @Option(help: "The saved column mapping the file is read with.") var mapping: String?
        @Option(help: "Instead of --erp-file: the NetSuite or Business Central target to read the ERP's side from (server only).") var pull: String?
        @Option(help: "Start of the period (RFC 3339): actions approved from then.") var from: String
        @Option(help: "End of the period, excluded (RFC 3339).") var to: String
        @Option(name: .customLong("stale-after"), help: "Undelivered for longer than this (e.g. 72h) is stale.") var staleAfter: String?
        @Option(name: .customLong("as-of"), help: "Judge staleness at this time (RFC 3339; default: now): the same inputs then give the same report.")
        var asOf: String?
        @Option(help: "The directory to create (must not exist).") var out: String
        @Option(help: "Reconcile on this database file directly instead of asking a server (the run and its exceptions are recorded in it).")
        var db: String?
        @Option(help: "With --db: the directory of saved mappings (default: Policies/reconciliation).") var mappings: String?
        @OptionGroup var server: ServerOptions

        /// The request as the server reads it: the same checks, the same words.
        func request() throws -> ReconciliationRequest {
            var fields: [String: JSONValue] = ["from": .string(from), "to": .string(to)]
            if let mapping { fields["mapping"] = .string(mapping) }
            if let staleAfter { fields["stale_after"] = .string(staleAfter) }
            if let asOf { fields["as_of"] = .string(asOf) }
            if let pull { fields["pull"] = .string(pull) }
            switch (erpFile, pull) {
            case (nil, nil): throw CommandFailure("--erp-file: the ERP's export is required (or --pull TARGET against a server)")
            case (_?, _?): throw CommandFailure("choose --erp-file or --pull, not both")
            default: break
            }
            do {
                return try ReconciliationRequest.parse(fields, upload: pull == nil)
            } catch let invalid as Refusal {
                throw CommandFailure(invalid.errors.map { "--\($0.field.replacingOccurrences(of: "_", with: "-")): \($0.message)" }.joined(separator: "\n"))
            }
        }

        func run() async throws {
            let request = try request()
            guard !FileManager.default.fileExists(atPath: out) else { throw CommandFailure("\(out) already exists") }
            if let erpFile, !FileManager.default.fileExists(atPath: erpFile) { throw CommandFailure("--erp-file: no file at \(erpFile)") }
            let summary: JSONValue
            if let db {
                guard request.pull == nil else { throw CommandFailure("--pull needs a server (its targets' credentials); with --db give --erp-file") }
                guard FileManager.default.fileExists(atPath: db) else { throw CommandFailure("no database at \(db)") }
                let database = try AppDatabase.open(path: db)
                let key = try ExportSigningKey.loadOrCreate(in: URL(fileURLWithPath: db).deletingLastPathComponent().path)
                // The run is made in a work directory beside --out, then renamed to it.
                let work = URL(fileURLWithPath: out + ".work")
                defer { try? FileManager.default.removeItem(at: work) }
                let reconciliations = try Reconciliations(store: SQLiteReconciliationStore(database: database), signingKey: key,
                                                          directory: work.path, mappingsDirectory: mappings ?? "Policies/reconciliation")
                // The ERP's file is kept as read: a copy goes in (the original stays where it is).
                let copy = work.appendingPathComponent(".upload")
                try FileManager.default.copyItem(at: URL(fileURLWithPath: erpFile!), to: copy)
                let user = "cli:" + (ProcessInfo.processInfo.environment["USER"] ?? "unknown")
                let run: ReconciliationRun
                do {
                    run = try await reconciliations.run(request, erpFile: copy, by: user)
                } catch let refusal as Refusal {
                    throw CommandFailure(refusal.errors.isEmpty ? refusal.message
                                         : refusal.errors.map { "--\($0.field.replacingOccurrences(of: "_", with: "-")): \($0.message)" }.joined(separator: "\n"))
                }
                try FileManager.default.moveItem(at: work.appendingPathComponent(run.id), to: URL(fileURLWithPath: out))
                summary = run.json
            } else {
                let run: JSONValue
                if let erpFile {
                    var query = "mapping=\(PercentEncoding.unreserved(request.mapping))&from=\(PercentEncoding.unreserved(from))&to=\(PercentEncoding.unreserved(to))"
                    if let staleAfter { query += "&stale_after=\(PercentEncoding.unreserved(staleAfter))" }
                    if let asOf { query += "&as_of=\(PercentEncoding.unreserved(asOf))" }
                    run = try await server.call(.POST, "/v1/reconciliations?\(query)", upload: (URL(fileURLWithPath: erpFile), "text/csv"))
                } else {
                    run = try await server.call(.POST, "/v1/reconciliations", body: request.json, timeout: .seconds(600))
                }
                let id = cell(run["id"])
                let partial = URL(fileURLWithPath: out + ".partial")
                try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                for (path, name) in [("csv", ReconciliationReport.csvName), ("report", ReconciliationReport.jsonName), ("erp-file", "erp.csv"),
                                     ("manifest", "manifest.json")] {
                    try await server.download("/v1/reconciliations/\(id)/\(path)", to: partial.appendingPathComponent(name))
                }
                try FileManager.default.moveItem(at: partial, to: URL(fileURLWithPath: out))
                summary = run
            }
            print("reconciliation \(cell(summary["id"])) (mapping \(cell(summary["mapping"])), \(cell(summary["from"])) to \(cell(summary["to"]))) into \(out)")
            let counts = summary["counts"]?.objectValue ?? [:]
            print(table(["CLASS", "ROWS"], Reconciler.Class.allCases.map { [$0.rawValue, cell(counts[$0.rawValue])] }))
            print("exceptions: \(cell(summary["exceptions"])) (\(cell(summary["exceptions_opened"])) newly opened, \(cell(summary["exceptions_closed"])) closed as matched)")
            print("check it with: arbiter audit verify-export \(out) --public-key <file with the output of arbiter audit public-key>")
        }
    }
}
