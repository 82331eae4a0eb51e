import ArbiterCore
import ArbiterServer
import ArbiterSQLite
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// The audit trail's tail: the hash chain cannot show entries removed from its end, a signed
/// checkpoint of its head kept outside the service can.
@Suite(.timeLimit(.minutes(5))) struct AuditCheckpointTests {
    static let admin = "admin-secret-for-tests-0123456789"

    static func checkpoint(_ client: some TestClientProtocol) async throws -> (HTTPResponse.Status, JSONValue) {
        try await client.execute(uri: "/v1/audit/checkpoint", method: .get, headers: [.authorization: "Bearer \(admin)"]) { response in
            (response.status, (try? JSONValue.parse(Data(String(buffer: response.body).utf8))) ?? .null)
        }
    }

    @Test func deletingTheNewestEntriesIsCaughtByAKeptCheckpoint() async throws {
        let directory = try temporaryDirectory().path
        let path = directory + "/arbiter.sqlite"
        let configuration = ServerConfiguration(dataDirectory: directory, policiesDirectory: repositoryRoot.appendingPathComponent("Policies").path,
                                                adminKey: Self.admin, checkpointInterval: .milliseconds(50))
        let app = try await buildApplication(configuration, database: try AppDatabase.open(path: path))
        let kept = directory + "/kept-checkpoint.json"
        try await app.test(.router) { client in
            let h = EventsHarness(database: .sqlite(try AppDatabase.open(path: path)), submitter: Self.admin, reviewer: Self.admin, sync: Self.admin)
            for i in 0..<3 { _ = try await h.post(client, validEnvelope("credit.requested", id: "evt-\(i)")) }
            // The head moves: a new checkpoint covers it (taken every 50 ms here).
            var saved = JSONValue.null
            #expect(try await eventually {
                let (status, checkpoint) = try await Self.checkpoint(client)
                saved = checkpoint
                let last = try await h.count("SELECT MAX(seq) FROM audit_log")
                return status == .ok && checkpoint["seq"] == .int(Int64(last))
            }, "\(saved)")
            // What an auditor keeps outside the service.
            try CanonicalJSON.string(saved).write(toFile: kept, atomically: true, encoding: .utf8)
            let (_, key) = try await client.execute(uri: "/v1/exports/public-key", method: .get,
                                                    headers: [.authorization: "Bearer \(Self.admin)"]) { response in
                (response.status, try JSONValue.parse(Data(String(buffer: response.body).utf8)))
            }
            try (key["public_key"]?.stringValue ?? "").write(toFile: directory + "/arbiter.pub", atomically: true, encoding: .utf8)
        }
        // Stopped: the last checkpoint covers the last entry.
        let database = try AppDatabase.open(path: path)
        let (last, latest) = try await database.writer.read { db in
            (try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM audit_log"), try AuditCheckpoints.latest(db))
        }
        #expect(latest?.seq == last)

        var (status, output) = try runArbiter(["audit", "verify", "--db", path, "--checkpoint", kept, "--public-key", directory + "/arbiter.pub"])
        #expect(status == 0 && output.contains("checkpoint met"), "\(output)")

        // Someone with the database file removes the newest entries (the trigger goes first).
        let checkpointed = try AuditCheckpoint(json: try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: kept))))
        try await database.writer.writeWithoutTransaction { db in
            try db.execute(sql: "DROP TRIGGER audit_log_no_delete")
            try db.execute(sql: "DELETE FROM audit_log WHERE seq > ?", arguments: [checkpointed.seq - 2])
            try db.execute(sql: "DELETE FROM audit_checkpoints")
        }
        // The chain alone still looks whole…
        (status, output) = try runArbiter(["audit", "verify", "--db", path])
        #expect(status == 0 && output.contains("audit chain intact"), "\(output)")
        // …the kept checkpoint does not.
        (status, output) = try runArbiter(["audit", "verify", "--db", path, "--checkpoint", kept, "--public-key", directory + "/arbiter.pub"])
        #expect(status != 0, "\(output)")
        #expect(output.contains("checkpoint not met: the audit log no longer holds entry \(checkpointed.seq)"), "\(output)")
        #expect(output.contains("it ends at entry \(checkpointed.seq - 2)"), "\(output)")

        // A checkpoint that was altered is refused before anything is compared.
        var forged = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: kept))).objectValue ?? [:]
        forged["seq"] = .int(checkpointed.seq - 2)
        try CanonicalJSON.string(.object(forged)).write(toFile: kept, atomically: true, encoding: .utf8)
        (status, output) = try runArbiter(["audit", "verify", "--db", path, "--checkpoint", kept, "--public-key", directory + "/arbiter.pub"])
        #expect(status != 0 && output.contains("signature does not match"), "\(output)")
    }

    @Test func exportManifestsCarryTheLatestCheckpoint() async throws {
        try await EventsHarness.run { client, h in
            _ = try await h.post(client, validEnvelope("credit.requested"))
            let from = Timestamp.format(Date().addingTimeInterval(-3600)), to = Timestamp.format(Date().addingTimeInterval(3600))
            let (status, export) = try await PoliciesTests.send(client, .post, "/v1/exports", key: EventsHarness.admin,
                                                                body: #"{"kind": "audit", "from": "\#(from)", "to": "\#(to)"}"#)
            #expect(status == .created, "\(export)")
            let checkpoint = try #require(export["manifest"]?["checkpoint"])
            #expect(checkpoint["seq"]?.intValue ?? 0 >= 1, "\(checkpoint)")
            #expect(checkpoint["signature"]?.stringValue != nil)
        }
    }
}
