import ArbiterCore
import ArbiterSQLite
import AsyncHTTPClient
import Foundation
import GRDB
import NIOHTTP1
import Testing

/// `arbiter store backup` copies the embedded store while the service writes it: the copy is
/// the database as of one commit, with every event acknowledged before it started and an intact
/// audit chain; it never overwrites a file.
@Suite(.timeLimit(.minutes(3))) struct StoreBackupTests {
    @Test func anOnlineBackupUnderLoadIsConsistentAndComplete() async throws {
        let data = scratchDirectory()
        let port = try FakeERP.freePort()
        let server = try CrashSafetyTests.Server(dataDirectory: data, port: port)
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer {
            server.kill()
            Task { try? await http.shutdown() }
        }
        let client = CrashSafetyTests.Client(http: http, base: "http://127.0.0.1:\(port)")
        try await client.waitUntilReady(server)
        let submitter = try await client.key("submitter")
        func submit(_ id: String) async throws {
            let body = CanonicalJSON.string(.object(validEnvelope("credit.requested", id: id, account: "acct_\(id)")))
            let (status, _, _) = try await client.send(.POST, "/v1/events", key: submitter, body: body)
            #expect(status == 201)
        }
        for i in 0..<20 { try await submit("before-\(i)") }
        let database = URL(fileURLWithPath: data).appendingPathComponent("arbiter.sqlite").path
        let copy = URL(fileURLWithPath: data).appendingPathComponent("backup.sqlite").path

        // Events keep arriving while the backup runs.
        let load = Task {
            for i in 0..<40 { try await submit("during-\(i)") }
        }
        let (status, output) = try runArbiter(["store", "backup", "--db", database, "--to", copy])
        try await load.value
        #expect(status == 0, "\(output)")
        #expect(output.contains("the copy's audit chain is intact"), "\(output)")

        let (verified, verifyOutput) = try runArbiter(["audit", "verify", "--db", copy])
        #expect(verified == 0, "\(verifyOutput)")
        let backup = try AppDatabase.openReadOnly(path: copy)
        let (before, decided) = try await backup.writer.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events WHERE external_id LIKE 'before-%'") ?? 0,
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events e JOIN decisions d ON d.event_id = e.id") ?? 0)
        }
        #expect(before == 20, "every event acknowledged before the backup is in it")
        let total = try await backup.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") ?? 0 }
        #expect(decided == total, "no event without its decision: the copy is one commit's state")

        let (again, againOutput) = try runArbiter(["store", "backup", "--db", database, "--to", copy])
        #expect(again != 0)
        #expect(againOutput.contains("exists already; a backup never overwrites a file"), "\(againOutput)")
    }
}
