import ArbiterCore
import ArbiterServer
import ArbiterSQLite
import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import Testing

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// How many policies Policies/ ships.
func shippedPolicyCount() -> Int {
    ((try? FileManager.default.contentsOfDirectory(atPath: repositoryRoot.appendingPathComponent("Policies").path)) ?? [])
        .filter { $0.hasSuffix(".lua") }.count
}

/// A new directory for a test's data (the admin key file lands there).
func scratchDirectory() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("arbiter-\(UUID().uuidString)").path
}

@Suite(.timeLimit(.minutes(5))) struct HealthTests {
    @Test func healthAndReadinessWithThePoliciesLoaded() async throws {
        let configuration = ServerConfiguration(dataDirectory: scratchDirectory(), policiesDirectory: repositoryRoot.appendingPathComponent("Policies").path)
        let app = try await buildApplication(configuration, database: try AppDatabase.inMemory())
        try await app.test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"ok"}"#)
            }
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok)
                let body = try JSONValue.parse(Data(String(buffer: response.body).utf8))
                #expect(body["status"] == "ready")
                #expect(body["policies"] == .int(Int64(shippedPolicyCount())))
            }
        }
    }

    /// A path that exists answers another method with 405 and the methods it has; a path that
    /// does not exist is 404.
    @Test func aMethodThePathLacksIs405WithAllow() async throws {
        let configuration = ServerConfiguration(dataDirectory: scratchDirectory(), policiesDirectory: repositoryRoot.appendingPathComponent("Policies").path)
        let app = try await buildApplication(configuration, database: try AppDatabase.inMemory())
        try await app.test(.router) { client in
            try await client.execute(uri: "/healthz", method: .delete) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET")
                #expect(response.headers[.contentType] == "application/problem+json")
            }
            try await client.execute(uri: "/v1/keys", method: .put) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET, POST")
            }
            try await client.execute(uri: "/v1/reviews/rev_1/claim", method: .get) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "POST")
            }
            try await client.execute(uri: "/v1/nothing-here", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test func startupRecordsPolicyActivationInTheAuditTrailOnce() async throws {
        let database = try AppDatabase.inMemory()
        let configuration = ServerConfiguration(dataDirectory: scratchDirectory(), policiesDirectory: repositoryRoot.appendingPathComponent("Policies").path)
        _ = try await buildApplication(configuration, database: database)
        _ = try await buildApplication(configuration, database: database)   // a restart with the same files
        let kinds = try await database.writer.read { db in try AuditLog.entries(db).map(\.kind) }
        let n = shippedPolicyCount()
        let m = 2   // the mapped sources of Policies/sources.json: chargebee, crm
        let mappings: [String] = Array(repeating: ["mapping.published", "mapping.activated"], count: m).flatMap { $0 }
        let policies: [String] = Array(repeating: ["policy.published", "policy.activated"], count: n).flatMap { $0 }
        let expected: [String] = ["key.created"] + mappings + policies
        #expect(kinds == expected)
        guard case .intact(let count, _) = try await database.verifyAudit() else {
            Issue.record("chain broken")
            return
        }
        #expect(count == Int64(1 + 2 * m + 2 * n))
    }

    /// `/metrics` and `/readyz` read counts a background task takes: a scrape runs no query
    /// over the outbox or the review items, however many rows they hold.
    @Test func scrapesDoNotCountTables() async throws {
        let database = try AppDatabase.inMemory()
        let recording = Locked(false)
        let statements = Locked<[String]>([])
        try await database.writer.writeWithoutTransaction { db in
            db.trace { event in
                if recording.withLock({ $0 }) { statements.withLock { $0.append("\(event)") } }
            }
        }
        // The background tasks (counts, escalation sweep) run once at the start, then not
        // while the scrapes are traced.
        let configuration = ServerConfiguration(dataDirectory: scratchDirectory(), policiesDirectory: repositoryRoot.appendingPathComponent("Policies").path,
                                                escalationInterval: .seconds(3600), gaugesInterval: .seconds(3600))
        let app = try await buildApplication(configuration, database: database)
        try await app.test(.router) { client in
            // The first count is taken when the service starts.
            #expect(try await eventually {
                try await client.execute(uri: "/readyz", method: .get) { response in
                    try JSONValue.parse(Data(String(buffer: response.body).utf8))["erp"]?["counted_at"] != .null
                }
            })
            recording.withLock { $0 = true }
            for _ in 0..<5 {
                try await client.execute(uri: "/metrics", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body).contains("arbiter_gauge_counts_age_seconds"))
                }
                try await client.execute(uri: "/readyz", method: .get) { response in #expect(response.status == .ok) }
            }
            recording.withLock { $0 = false }
        }
        // (The escalation sweep may run meanwhile under load; it reads claims, it counts nothing.)
        let scans = statements.withLock { $0 }.filter { $0.contains("COUNT(") && ($0.contains("outbox_actions") || $0.contains("review_items")) }
        #expect(scans.isEmpty, "\(scans)")
        #expect(!statements.withLock { $0 }.isEmpty, "the trace saw the scrapes' own statements")
    }

    @Test func aBrokenPolicyDirectoryStopsTheStart() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("policies-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try "return { name = 'x', on = { 'credit.requested' }, decide = function( end }".write(
            to: dir.appendingPathComponent("x.lua"), atomically: true, encoding: .utf8)
        await #expect(throws: (any Error).self) {
            _ = try await buildApplication(ServerConfiguration(dataDirectory: scratchDirectory(), policiesDirectory: dir.path), database: try AppDatabase.inMemory())
        }
    }
}
