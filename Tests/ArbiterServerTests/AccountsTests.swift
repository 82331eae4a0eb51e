import ArbiterCore
import ArbiterServer
import ArbiterSQLite
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite(.timeLimit(.minutes(5))) struct AccountsTests {
    static let admin = "admin-secret-for-tests-0123456789"

    func withApp(_ database: AppDatabase, _ body: @Sendable (any TestClientProtocol, String, String) async throws -> Void) async throws {
        let app = try await buildApplication(ServerConfiguration(dataDirectory: scratchDirectory(), policiesDirectory: nil, adminKey: Self.admin),
                                             database: database)
        // The billing sync's key (role sync) and a reviewer key.
        let (submitter, reviewer) = try await database.writer.write { db in
            (try ApiKeys.create(db, name: "billing", role: .sync, createdBy: "test").secret,
             try ApiKeys.create(db, name: "ana", role: .reviewer, createdBy: "test").secret)
        }
        try await app.test(.router) { client in try await body(client, submitter, reviewer) }
    }

    func headers(_ secret: String) -> HTTPFields { [.authorization: "Bearer \(secret)", .contentType: "application/json"] }

    @Test func anAccountNeverSeenIsUnknown() async throws {
        try await withApp(try AppDatabase.inMemory()) { client, _, reviewer in
            try await client.execute(uri: "/v1/accounts/acct_new", method: .get, headers: headers(reviewer)) { response in
                #expect(response.status == .ok)
                let body = try JSONValue.parse(Data(String(buffer: response.body).utf8))
                #expect(body["account"]?["status"] == "unknown")
                #expect(body["history"]?["credits_90d_minor"] == 0)
            }
        }
    }

    @Test func syncStoresTheSnapshotAndAuditsIt() async throws {
        let database = try AppDatabase.inMemory()
        try await withApp(database) { client, submitter, reviewer in
            let body = ByteBuffer(string: #"{"status": "past_due", "tier": "premium", "mrr_minor": 49900, "currency": "EUR", "open_balance_minor": 12000, "days_past_due": 12, "entitlements": ["sso", "api", "sso"]}"#)
            try await client.execute(uri: "/v1/accounts/acct_1", method: .put, headers: headers(submitter), body: body) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/v1/accounts/acct_1", method: .get, headers: headers(reviewer)) { response in
                let account = try JSONValue.parse(Data(String(buffer: response.body).utf8))["account"]
                #expect(account?["status"] == "past_due")
                #expect(account?["tier"] == "premium")
                #expect(account?["days_past_due"] == 12)
                #expect(account?["entitlements"] == ["api", "sso"])
            }
            // Reviewers read accounts but do not sync them; nor may a support tool, which could
            // then have its own credits approved.
            try await client.execute(uri: "/v1/accounts/acct_1", method: .put, headers: headers(reviewer), body: body) { response in
                #expect(response.status == .forbidden)
            }
            let support = try await database.writer.write { db in
                try ApiKeys.create(db, name: "zendesk", role: .submitter, createdBy: "test").secret
            }
            let raise = ByteBuffer(string: #"{"status": "active", "tier": "enterprise", "currency": "EUR"}"#)
            try await client.execute(uri: "/v1/accounts/acct_1", method: .put, headers: headers(support), body: raise) { response in
                #expect(response.status == .forbidden)
            }
        }
        let audit = try await database.writer.read { db in try AuditLog.entries(db) }.filter { $0.kind == "account.synced" }
        #expect(audit.count == 1, "the refused syncs stored nothing")
        #expect(audit.last?.subject == "acct_1")
        #expect(audit.last?.data["currency"] == "EUR")
    }

    @Test func badSnapshotsNameEveryFieldAndStoreNothing() async throws {
        let database = try AppDatabase.inMemory()
        try await withApp(database) { client, submitter, _ in
            let body = ByteBuffer(string: #"{"status": "unknown", "currency": "usd", "mrr_minor": -1, "days_past_due": 1.5, "entitlements": "sso", "color": "red"}"#)
            try await client.execute(uri: "/v1/accounts/acct_2", method: .put, headers: headers(submitter), body: body) { response in
                #expect(response.status == .unprocessableContent)
                #expect(response.headers[.contentType] == "application/problem+json")
                let fields = try JSONValue.parse(Data(String(buffer: response.body).utf8))["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue }
                #expect(fields == ["color", "status", "currency", "mrr_minor", "days_past_due", "entitlements"])
            }
        }
        let stored = try await database.writer.read { db in try AccountRows.snapshot(db, id: "acct_2") }
        #expect(stored.status == .unknown)
    }
}
