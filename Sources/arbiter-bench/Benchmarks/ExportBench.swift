import ArbiterApp
import ArbiterCore
import ArbiterSQLite
import Foundation
import Glibc
import GRDB

/// `arbiter-bench export [--rows N]`: N audit entries (1,000,000 by default: decision-sized
/// data, correlation ids) are appended to a temporary database through the real chain, then
/// exported with the service's export path (streamed, signed) and checked with the same
/// verifier `arbiter audit verify-export` runs. The last line is
/// `export rows_per_s=<int> verify_rows_per_s=<int> peak_rss_mb=<int>`; the peak RSS is the
/// process's high-water mark after seeding, exporting and verifying.
struct ExportBench {
    let rows: Int

    func run() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("arbiter-export-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try AppDatabase.open(path: directory.appendingPathComponent("arbiter.sqlite").path)
        let seeding = Date()
        let start = Date()
        let batch = 20_000
        var written = 0
        while written < rows {
            let count = min(batch, rows - written)
            let first = written
            try await database.writer.write { db in
                var chain = try AuditChain(db)
                for n in first..<(first + count) {
                    let data: JSONValue = [
                        "event_id": .string("01a2-\(n)"), "outcome": n % 3 == 0 ? "review" : "approve",
                        "reasons": ["credit of 25.00 USD is within the standard limit and the 90-day cap"],
                        "actions": [["type": "credit_memo", "amount_minor": .int(Int64(n % 9000 + 100)), "currency": "USD"]],
                    ]
                    try chain.append(db, actor: "key_\(n % 7)", kind: n % 2 == 0 ? "event.received" : "decision.made",
                                     subject: "subject-\(n)", correlationId: "case-\(n / 2)", data: data,
                                     at: start.addingTimeInterval(Double(n) / 1_000_000))
                }
            }
            written += count
        }
        print(String(format: "appended %d audit entries in %.1f s", rows, Date().timeIntervalSince(seeding)))

        let key = try ExportSigningKey.loadOrCreate(in: directory.path)
        let target = directory.appendingPathComponent("exports").appendingPathComponent("bench")
        try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        let request = ExportRequest(kind: .audit, from: start.addingTimeInterval(-1), to: start.addingTimeInterval(Double(rows) + 1))
        let exportStart = ContinuousClock.now
        let manifest = try await Exports.export(request, from: SQLiteAuditStore(database: database, committer: nil), id: "bench",
                                                to: target, by: "bench", key: key, masking: .none())
        let exportSeconds = Self.seconds(ContinuousClock.now - exportStart)
        guard manifest["rows"]?.intValue == Int64(rows) else { throw Failure("exported \(String(describing: manifest["rows"])) of \(rows) rows") }

        guard let publicKey = ExportSigningKey.publicKey(from: key.publicKeyText) else { throw Failure("the public key does not read back") }
        let verifyStart = ContinuousClock.now
        let outcome = ExportVerifier.verify(directory: target, publicKey: publicKey)
        let verifySeconds = Self.seconds(ContinuousClock.now - verifyStart)
        guard case .verified(let summary) = outcome else { throw Failure("verification failed: \(outcome)") }
        let bytes = (try? FileManager.default.attributesOfItem(atPath: target.appendingPathComponent("audit.jsonl").path)[.size] as? Int) ?? 0
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let peakMB = Int(usage.ru_maxrss) / 1024   // kilobytes on Linux
        print(String(format: "exported %d rows (%.0f MB) in %.2f s; verified in %.2f s: %@", rows, Double(bytes) / 1e6, exportSeconds,
                     verifySeconds, summary))
        print("export rows_per_s=\(Int(Double(rows) / exportSeconds)) verify_rows_per_s=\(Int(Double(rows) / verifySeconds)) peak_rss_mb=\(peakMB)")
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
