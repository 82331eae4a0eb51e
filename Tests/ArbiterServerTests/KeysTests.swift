import ArbiterCore
import ArbiterServer
import ArbiterSQLite
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite(.timeLimit(.minutes(5))) struct KeysTests {
    static let adminSecret = "admin-secret-for-tests-0123456789"

    func app(_ database: AppDatabase, dataDirectory: String = NSTemporaryDirectory()) async throws -> some ApplicationProtocol {
        try await buildApplication(ServerConfiguration(dataDirectory: dataDirectory, policiesDirectory: nil, adminKey: Self.adminSecret),
                                   database: database)
    }

    func json(_ buffer: ByteBuffer) throws -> JSONValue { try JSONValue.parse(Data(String(buffer: buffer).utf8)) }

    func bearer(_ secret: String) -> HTTPFields { [.authorization: "Bearer \(secret)", .contentType: "application/json"] }

    @Test func missingOrUnknownKeysAre401ProblemJSON() async throws {
        try await app(try AppDatabase.inMemory()).test(.router) { client in
            try await client.execute(uri: "/v1/keys", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(response.headers[.wwwAuthenticate] == "Bearer")
                let problem = try json(response.body)
                #expect(problem["status"] == 401)
            }
            try await client.execute(uri: "/v1/keys", method: .get, headers: bearer("arb_not_a_key")) { response in
                #expect(response.status == .unauthorized)
            }
        }
    }

    @Test func adminCreatesKeysAndRolesAreChecked() async throws {
        let database = try AppDatabase.inMemory()
        try await app(database).test(.router) { client in
            let body = ByteBuffer(string: #"{"name": "zendesk", "role": "submitter"}"#)
            let secret = try await client.execute(uri: "/v1/keys", method: .post, headers: bearer(Self.adminSecret), body: body) { response in
                #expect(response.status == .created)
                let created = try json(response.body)
                #expect(created["role"] == "submitter")
                #expect(created["name"] == "zendesk")
                return try #require(created["secret"]?.stringValue)
            }
            // The new key works, and only for its role.
            try await client.execute(uri: "/v1/keys", method: .get, headers: bearer(secret)) { response in
                #expect(response.status == .forbidden)
                let problem = try json(response.body)
                #expect(problem["detail"]?.stringValue?.contains("needs the role admin") == true)
                #expect(problem["detail"]?.stringValue?.contains("has submitter") == true)
            }
            let id = try await client.execute(uri: "/v1/keys", method: .get, headers: bearer(Self.adminSecret)) { response in
                #expect(response.status == .ok)
                let keys = try #require(try json(response.body)["keys"]?.arrayValue)
                #expect(keys.map { $0["role"] } == ["admin", "submitter"])
                #expect(!String(buffer: response.body).contains(secret), "secrets are never listed")
                return try #require(keys[1]["id"]?.stringValue)
            }
            try await client.execute(uri: "/v1/keys/\(id)/revoke", method: .post, headers: bearer(Self.adminSecret)) { response in
                #expect(response.status == .ok)
                let revoked = try json(response.body)
                #expect(revoked["revoked_at"] != .null)
            }
            try await client.execute(uri: "/v1/keys", method: .get, headers: bearer(secret)) { response in
                #expect(response.status == .unauthorized, "a revoked key no longer authenticates")
            }
        }
        let kinds = try await database.writer.read { db in try AuditLog.entries(db).map(\.kind) }
        #expect(kinds == ["key.created", "key.created", "key.revoked"])
    }

    /// Revoking the last live admin key would lock everyone out of key management: refused.
    @Test func theLastAdminKeyCannotBeRevoked() async throws {
        let database = try AppDatabase.inMemory()
        try await app(database).test(.router) { client in
            let first = try await client.execute(uri: "/v1/keys", method: .get, headers: bearer(Self.adminSecret)) { response in
                try json(response.body)["keys"]?.arrayValue?.first { $0["role"] == "admin" }?["id"]?.stringValue ?? ""
            }
            try await client.execute(uri: "/v1/keys/\(first)/revoke", method: .post, headers: bearer(Self.adminSecret)) { response in
                #expect(response.status == .conflict)
                let detail = try json(response.body)["detail"]?.stringValue ?? ""
                #expect(detail.contains("last active admin key"), "\(detail)")
            }
            let second = try await client.execute(uri: "/v1/keys", method: .post, headers: bearer(Self.adminSecret),
                                                  body: ByteBuffer(string: #"{"name": "second admin", "role": "admin"}"#)) { response in
                try json(response.body)["secret"]?.stringValue ?? ""
            }
            try await client.execute(uri: "/v1/keys/\(first)/revoke", method: .post, headers: bearer(second)) { response in
                #expect(response.status == .ok)
            }
        }
        let liveAdmins = try await database.writer.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL")
        }
        #expect(liveAdmins == 1)
    }

    @Test func badKeyRequestsNameTheField() async throws {
        try await app(try AppDatabase.inMemory()).test(.router) { client in
            let body = ByteBuffer(string: #"{"name": "", "role": "boss", "approval_limits": {"USD": -5, "XYZ": 10}, "approval_limit_minor": 5}"#)
            try await client.execute(uri: "/v1/keys", method: .post, headers: bearer(Self.adminSecret), body: body) { response in
                #expect(response.status == .unprocessableContent)
                let fields = try json(response.body)["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue }
                #expect(fields == ["name", "role", "approval_limits.USD", "approval_limits.XYZ", "approval_limit_minor"])
            }
            try await client.execute(uri: "/v1/keys", method: .post, headers: bearer(Self.adminSecret), body: ByteBuffer(string: "not json")) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/v1/keys/key_nope/revoke", method: .post, headers: bearer(Self.adminSecret)) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test func firstStartWritesTheAdminKeyFileOwnerOnly() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("arbiter-\(UUID().uuidString)").path
        let database = try AppDatabase.inMemory()
        _ = try await buildApplication(ServerConfiguration(dataDirectory: dir, policiesDirectory: nil), database: database)
        let file = dir + "/admin.key"
        let secret = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try await SQLiteKeyStore(database: database).liveKey(secretHash: ApiKey.hash(secret: secret))?.role == .admin)
    }

    @Test func cliCreatesAKeyPrintedAloneOnTheLastLine() async throws {
        let dir = try temporaryDirectory()
        let path = dir.appendingPathComponent("arbiter.sqlite").path
        let (status, output) = try runArbiter(["keys", "create", "--db", path, "--role", "reviewer", "--name", "ana",
                                               "--approval-limit", "USD:50000", "--approval-limit", "EUR:40000"])
        #expect(status == 0, "\(output)")
        let secret = try #require(output.split(separator: "\n").last.map(String.init))
        let key = try await SQLiteKeyStore(database: AppDatabase.open(path: path)).liveKey(secretHash: ApiKey.hash(secret: secret))
        #expect(key?.role == .reviewer)
        #expect(key?.approvalLimits == ["USD": 50_000, "EUR": 40_000])
        let (noCurrency, refused) = try runArbiter(["keys", "create", "--db", path, "--role", "reviewer", "--name", "x", "--approval-limit", "50000"])
        #expect(noCurrency != 0 && refused.contains("expected CURRENCY:MINOR"), "\(refused)")
        let (bad, message) = try runArbiter(["keys", "create", "--db", path, "--role", "boss", "--name", "x"])
        #expect(bad != 0)
        #expect(message.contains("boss"), "\(message)")
    }
}
