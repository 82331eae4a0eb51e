import ArbiterCore
import ArbiterServer
import ArbiterSQLite
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// Auditors read the trail over the API: the story of one correlation id in order, filters,
/// paging, the server's own verification, and the key export manifests are signed with.
@Suite(.timeLimit(.minutes(5))) struct AuditQueryTests {
    typealias P = PoliciesTests

    /// `from`/`to` select entries by time, [from, to); a range the wrong way round names `to`.
    @Test func entriesAreFilteredByTime() async throws {
        try await EventsHarness.run { client, h in
            let auditor = try await ReviewsTests.key(h, "internal audit", .auditor)
            _ = try await h.post(client, validEnvelope("credit.requested"))
            let all = try await P.send(client, .get, "/v1/audit?limit=500", key: auditor.secret).1["items"]?.arrayValue ?? []
            let times = all.compactMap { $0["at"]?.stringValue }
            try #require(times.count >= 2)
            let middle = times[times.count / 2]
            let later = try await P.send(client, .get, "/v1/audit?limit=500&from=\(middle)", key: auditor.secret).1["items"]?.arrayValue ?? []
            #expect(!later.isEmpty && later.allSatisfy { ($0["at"]?.stringValue ?? "") >= middle })
            let earlier = try await P.send(client, .get, "/v1/audit?limit=500&to=\(middle)", key: auditor.secret).1["items"]?.arrayValue ?? []
            #expect(earlier.allSatisfy { ($0["at"]?.stringValue ?? "") < middle } && earlier.count + later.count == all.count)
            let (status, body) = try await P.send(client, .get, "/v1/audit?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", key: auditor.secret)
            #expect(status == .unprocessableContent && body["errors"]?.arrayValue?.first?["field"] == "to")
            let (bad, badBody) = try await P.send(client, .get, "/v1/audit?from=yesterday", key: auditor.secret)
            #expect(bad == .unprocessableContent && badBody["errors"]?.arrayValue?.first?["field"] == "from")
        }
    }

    @Test func theStoryOfOneCaseFromRequestToERPInOrder() async throws {
        let spool = scratchDirectory()
        try await EventsHarness.run(erp: .spool(directory: spool)) { client, h in
            try await ReviewsTests.standardAccount(client, h)
            let auditor = try await ReviewsTests.key(h, "internal audit", .auditor)
            let reviewer = try await ReviewsTests.key(h, "ana", .reviewer)
            let review = try await ReviewsTests.creditForReview(client, h)          // correlation id case-42
            let (approved, _) = try await ReviewsTests.command(client, h, review, "approve", key: reviewer.secret, ["comment": "ok"])
            #expect(approved == .ok)
            var story: [JSONValue] = []
            #expect(try await eventually {
                story = try await P.send(client, .get, "/v1/audit?correlation_id=case-42", key: auditor.secret).1["items"]?.arrayValue ?? []
                return story.contains { $0["kind"] == "action.delivered" }
            }, "\(story)")
            #expect(story.map { $0["kind"]?.stringValue ?? "" } == ["event.received", "decision.made", "review.approved", "action.delivered"])
            let seqs = story.compactMap { $0["seq"]?.intValue }
            #expect(seqs == seqs.sorted())
            #expect(story[2]["actor"] == .string(reviewer.id))
            #expect(story.allSatisfy { $0["hash"]?.stringValue?.count == 64 && $0["prev_hash"]?.stringValue?.count == 64 })

            // Filters and paging.
            let (_, decisions) = try await P.send(client, .get, "/v1/audit?kind=decision.made", key: auditor.secret)
            #expect(decisions["items"]?.arrayValue?.allSatisfy { $0["kind"] == "decision.made" } == true)
            let (_, byActor) = try await P.send(client, .get, "/v1/audit?actor=\(reviewer.id)", key: auditor.secret)
            #expect(byActor["items"]?.arrayValue?.map { $0["kind"] } == ["review.approved"])
            var after = "0", pages = 0, seen: [Int64] = []
            while pages < 50 {
                let (_, page) = try await P.send(client, .get, "/v1/audit?limit=2&after_seq=\(after)", key: auditor.secret)
                seen += page["items"]?.arrayValue?.compactMap { $0["seq"]?.intValue } ?? []
                pages += 1
                guard let next = page["next_cursor"]?.stringValue else { break }
                after = next
            }
            let total = try await h.count("SELECT COUNT(*) FROM audit_log")
            #expect(seen == Array(1...Int64(total)), "every entry once, in order")

            let (bad, problem) = try await P.send(client, .get, "/v1/audit?after_seq=x&limit=0", key: auditor.secret)
            #expect(bad == .unprocessableContent)
            #expect(Set(problem["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? []) == ["after_seq", "limit"])
            let (forbidden, _) = try await P.send(client, .get, "/v1/audit", key: reviewer.secret)
            #expect(forbidden == .forbidden)
        }
    }

    @Test func theServerVerifiesTheChainAndNamesTheFirstAlteredEntry() async throws {
        try await EventsHarness.run { client, h in
            let auditor = try await ReviewsTests.key(h, "internal audit", .auditor)
            _ = try await h.post(client, validEnvelope("credit.requested"))
            let (_, intact) = try await P.send(client, .get, "/v1/audit/verify", key: auditor.secret)
            #expect(intact["status"] == "intact", "\(intact)")
            #expect(intact["entries"] == .int(Int64(try await h.count("SELECT COUNT(*) FROM audit_log"))))
            // Someone with write access to the file changes an entry (the triggers have to go first).
            try await h.database.allowAuditChanges()
            try await h.database.execute("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 3")
            let (_, broken) = try await P.send(client, .get, "/v1/audit/verify", key: auditor.secret)
            #expect(broken["status"] == "broken")
            #expect(broken["seq"] == .int(3), "\(broken)")
        }
    }

    /// The signing key is created once, kept across restarts in the data directory (0600), and
    /// the API and `arbiter audit public-key --db` give the same public key.
    @Test func theExportSigningKeyIsCreatedOnceAndPublished() async throws {
        let directory = scratchDirectory()
        let path = URL(fileURLWithPath: directory).appendingPathComponent("arbiter.sqlite").path
        func publicKey() async throws -> JSONValue {
            let app = try await buildApplication(ServerConfiguration(dataDirectory: directory, policiesDirectory: nil,
                                                                     adminKey: EventsHarness.admin),
                                                 database: try AppDatabase.open(path: path))
            return try await app.test(.router) { client in
                try await P.send(client, .get, "/v1/exports/public-key", key: EventsHarness.admin).1
            }
        }
        let first = try await publicKey()
        let text = try #require(first["public_key"]?.stringValue)
        #expect(text.hasPrefix("ed25519:"))
        #expect(ExportSigningKey.publicKey(from: text) != nil)
        #expect(try await publicKey() == first, "the same key after a restart")
        let keyFile = URL(fileURLWithPath: directory).appendingPathComponent(ExportSigningKey.fileName).path
        let mode = try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let cli = try runArbiter(["audit", "public-key", "--db", path])
        #expect(cli.status == 0 && cli.output.trimmingCharacters(in: .whitespacesAndNewlines) == text, "\(cli.output)")
        let missing = try runArbiter(["audit", "public-key", "--db", directory + "/nope.sqlite"])
        #expect(missing.status != 0 && missing.output.contains("no database"), "\(missing.output)")
    }
}
