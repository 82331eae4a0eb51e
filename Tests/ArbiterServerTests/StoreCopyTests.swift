import ArbiterCore
import ArbiterServer
import ArbiterSQLite
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// `arbiter store copy` moves an embedded installation to PostgreSQL with everything: the same
/// decisions, reviews and outbox, the audit chain byte for byte (same last hash), the export
/// keys; the service then runs on the copy and goes on where the file left off.
@Suite(.timeLimit(.minutes(3)), .enabled(if: TestDatabase.postgresCluster != nil))
struct StoreCopyTests {
    typealias P = PoliciesTests

    @Test func anEmbeddedInstallationMovesToPostgreSQLWithItsChainAndKeys() async throws {
        let data = scratchDirectory()
        let file = data + "/arbiter.sqlite"
        let policies = repositoryRoot.appendingPathComponent("Policies").path
        let embedded = try await buildApplication(ServerConfiguration(dataDirectory: data, policiesDirectory: policies,
                                                                      adminKey: EventsHarness.admin),
                                                  database: try AppDatabase.open(path: file))
        let (publicKey, reviewId) = try await embedded.test(.router) { client in
            let h = EventsHarness(database: .sqlite(try AppDatabase.open(path: file)), submitter: EventsHarness.admin,
                                  reviewer: EventsHarness.admin, sync: EventsHarness.admin)
            try await ReviewsTests.standardAccount(client, h)
            for n in 0..<12 {
                _ = try await h.post(client, validEnvelope(n.isMultiple(of: 4) ? "payment.failed" : "credit.requested", id: "before-\(n)",
                                                           payload: n.isMultiple(of: 4) ? [:] : ["amount_minor": .int(Int64(500 + n))]))
            }
            let reviewId = try await ReviewsTests.creditForReview(client, h)
            let publicKey = try await P.send(client, .get, "/v1/exports/public-key", key: EventsHarness.admin).1["public_key"] ?? .null
            return (publicKey, reviewId)
        }
        let (fileStatus, fileOutput) = try runArbiter(["audit", "verify", "--db", file])
        #expect(fileStatus == 0, "\(fileOutput)")

        let database = try await TestDatabase.make(on: try #require(TestDatabase.postgresCluster))
        defer { database.close() }
        guard case .postgres(_, let url) = database else { return }
        let (copied, output) = try runArbiter(["store", "copy", "--from", "sqlite:\(file)", "--to", url])
        #expect(copied == 0, "\(output)")
        #expect(output.contains("the copy's audit chain is intact and the same as the file's"), "\(output)")
        #expect(output.contains("export signing key: moved"), "\(output)")
        let (verified, verifyOutput) = try runArbiter(["audit", "verify", "--database", url])
        #expect(verified == 0, "\(verifyOutput)")
        #expect(verifyOutput == fileOutput, "the same entries and last hash: \(verifyOutput) / \(fileOutput)")

        // Copying into a database that holds an installation is refused.
        let (again, againOutput) = try runArbiter(["store", "copy", "--from", "sqlite:\(file)", "--to", url])
        #expect(again != 0)
        #expect(againOutput.contains("not empty"), "\(againOutput)")

        // The service runs on the copy: the same history, the same keys, and it goes on.
        let moved = try await buildApplication(database.configure(ServerConfiguration(dataDirectory: scratchDirectory(),
                                                                                       policiesDirectory: policies,
                                                                                       adminKey: EventsHarness.admin)))
        try await moved.test(.router) { client in
            let h = EventsHarness(database: database, submitter: EventsHarness.admin, reviewer: EventsHarness.admin, sync: EventsHarness.admin)
            #expect(try await P.send(client, .get, "/v1/exports/public-key", key: EventsHarness.admin).1["public_key"] == publicKey)
            let (_, decisions) = try await h.get(client, "/v1/decisions?limit=100", key: EventsHarness.admin)
            #expect(decisions["items"]?.arrayValue?.count == 13, "\(decisions)")
            let (_, replay, replayed) = try await h.post(client, validEnvelope("payment.failed", id: "before-0"))
            #expect(replayed == "true", "a resubmission is still recognised: \(replay)")
            let (status, _, _) = try await h.post(client, validEnvelope("credit.requested", id: "after-1", payload: ["amount_minor": 700]))
            #expect(status == .created)
            let (approved, item) = try await ReviewsTests.command(client, h, reviewId, "approve", key: try await ReviewsTests.key(h, "ben", .reviewer).secret)
            #expect(approved == .ok, "\(item)")
            let (_, chain) = try await h.get(client, "/v1/audit/verify", key: EventsHarness.admin)
            #expect(chain["status"] == "intact", "\(chain)")
        }
    }
}
