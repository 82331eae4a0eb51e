import ArbiterCore
import ArbiterSQLite
import Foundation
import GRDB
import Testing

/// Exports stream: the memory `arbiter audit export` needs does not grow with the range. Only
/// memory is asserted here, over 10,000 and 200,000 entries (a few seconds); the figures for
/// 1,000,000 entries (speed and peak memory) are `Scripts/bench.sh export`'s.
@Suite(.timeLimit(.minutes(5))) struct ExportScaleTests {
    /// Runs the arbiter binary with its output discarded; its exit status and peak resident
    /// memory (KiB): the highest `VmHWM` its /proc status showed while it ran arbiter, read
    /// every 20 ms.
    /// (`wait4`'s `ru_maxrss` would not do: it counts the test process's memory the child
    /// shared before it exec'd.)
    static func peakMemoryOfArbiter(_ arguments: [String]) throws -> (status: Int32, peakKiB: Int) {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("arbiter")
        let process = try ChildProcess(FileManager.default.fileExists(atPath: binary.path) ? binary : repositoryRoot.appendingPathComponent(".build/debug/arbiter"),
                                       arguments)
        var peak = 0
        while process.isRunning {
            if let status = try? String(contentsOfFile: "/proc/\(process.pid)/status", encoding: .utf8),
               // Only once it runs arbiter: before its exec the child still shows the test process's memory.
               status.hasPrefix("Name:\tarbiter\n"),
               let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
               let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") {
                peak = max(peak, kib)
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        process.wait()
        return (process.exitStatus ?? -1, peak)
    }

    /// A database with `count` audit entries of decision size (the export copies rows as
    /// stored; their hashes are not what this checks).
    static func seed(_ count: Int) throws -> String {
        let data = scratchDirectory()
        let path = URL(fileURLWithPath: data).appendingPathComponent("arbiter.sqlite").path
        let database = try AppDatabase.open(path: path)
        try database.writer.write { db in
            try db.execute(sql: """
                WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
                INSERT INTO audit_log (seq, at, actor, kind, subject, correlation_id, data, prev_hash, hash)
                SELECT i, '2026-11-01T00:00:00.000000Z', 'key_' || (i % 7), 'decision.made', printf('dec_%012d', i), 'case-' || (i % 1000),
                       '{"actions":[{"amount_minor":2500,"currency":"USD","type":"credit_memo"}],"event_id":"' || printf('evt_%012d', i)
                       || '","outcome":"approve","reasons":["credit of 25.00 USD is within the standard limit and the 90-day cap"]}',
                       printf('%064d', i - 1), printf('%064d', i)
                FROM n
                """, arguments: [count])
        }
        return path
    }

    @Test func exportingTwentyTimesTheEntriesTakesNoMoreMemory() throws {
        func export(_ count: Int) throws -> (peakKiB: Int, manifest: JSONValue) {
            let db = try Self.seed(count)
            let out = URL(fileURLWithPath: db).deletingLastPathComponent().appendingPathComponent("export").path
            defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: db).deletingLastPathComponent().path) }
            let run = try Self.peakMemoryOfArbiter(["audit", "export", "--kind", "audit", "--from", "2026-11-01T00:00:00Z",
                                                    "--to", "2026-11-02T00:00:00Z", "--out", out, "--db", db])
            #expect(run.status == 0)
            let manifest = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: out).appendingPathComponent("manifest.json")))
            return (run.peakKiB, manifest)
        }
        let small = try export(10_000)
        let large = try export(200_000)
        #expect(small.manifest["rows"] == 10_000 && large.manifest["rows"] == 200_000)
        #expect(small.peakKiB > 0 && large.peakKiB > 0, "the child's memory was read")
        #expect(large.manifest["last_seq"] == 200_000)
        // The file is ~80 MB; streamed, the process grows by its buffers only.
        #expect(large.peakKiB - small.peakKiB < 16 * 1024, "peak \(small.peakKiB) KiB for 10,000 rows, \(large.peakKiB) KiB for 200,000")
        #expect(large.peakKiB < 100 * 1024, "peak \(large.peakKiB) KiB")
    }
}
