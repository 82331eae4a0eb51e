import ArbiterCore
import ArbiterServer
import ArbiterSQLite
import AsyncHTTPClient
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOHTTP1
import Testing

/// Audit exports: written with a signed manifest, fetched over the API, checked offline by
/// `arbiter audit verify-export` — which must catch every kind of tampering.
@Suite(.timeLimit(.minutes(5))) struct ExportTests {
    typealias P = PoliciesTests

    /// Runs a server on a data directory of its own with some audit entries; returns the
    /// directory, the export's id and directory, and the public key file.
    static func exportAudit(filters: String = "") async throws -> (data: String, export: URL, publicKey: String, manifest: JSONValue) {
        let data = scratchDirectory()
        let app = try await buildApplication(
            ServerConfiguration(dataDirectory: data, policiesDirectory: repositoryRoot.appendingPathComponent("Policies").path,
                                adminKey: EventsHarness.admin),
            database: try AppDatabase.open(path: URL(fileURLWithPath: data).appendingPathComponent("arbiter.sqlite").path))
        return try await app.test(.router) { client in
            for n in 0..<5 {
                let body = CanonicalJSON.string(.object(validEnvelope("credit.requested", account: "acct_\(n)")))
                _ = try await P.send(client, .post, "/v1/events", key: EventsHarness.admin, body: body)
            }
            let from = Timestamp.format(Date().addingTimeInterval(-3600)), to = Timestamp.format(Date().addingTimeInterval(60))
            let (status, created) = try await P.send(client, .post, "/v1/exports", key: EventsHarness.admin,
                                                     body: #"{"kind": "audit", "from": "\#(from)", "to": "\#(to)", "format": "jsonl"\#(filters)}"#)
            #expect(status == .created, "\(created)")
            let id = try #require(created["id"]?.stringValue)
            let (_, manifest) = try await P.send(client, .get, "/v1/exports/\(id)/manifest", key: EventsHarness.admin)
            #expect(manifest == created["manifest"])
            let file = try await client.execute(uri: "/v1/exports/\(id)/file", method: .get,
                                                headers: [.authorization: "Bearer \(EventsHarness.admin)"]) { String(buffer: $0.body) }
            let export = URL(fileURLWithPath: data).appendingPathComponent("exports").appendingPathComponent(id)
            #expect(file == (try String(contentsOf: export.appendingPathComponent("audit.jsonl"), encoding: .utf8)))
            let (_, key) = try await P.send(client, .get, "/v1/exports/public-key", key: EventsHarness.admin)
            let keyFile = URL(fileURLWithPath: data).appendingPathComponent("public.key").path
            try (key["public_key"]?.stringValue ?? "").write(toFile: keyFile, atomically: true, encoding: .utf8)
            return (data, export, keyFile, manifest)
        }
    }

    /// A copy of the export to tamper with.
    static func copy(_ export: URL) throws -> URL {
        let copy = URL(fileURLWithPath: scratchDirectory()).appendingPathComponent("export")
        try FileManager.default.copyItem(at: export, to: copy)
        return copy
    }

    static func lines(_ export: URL) throws -> [String] {
        try String(contentsOf: export.appendingPathComponent("audit.jsonl"), encoding: .utf8).split(separator: "\n").map(String.init)
    }

    static func write(_ lines: [String], to export: URL) throws {
        try (lines.joined(separator: "\n") + "\n").write(to: export.appendingPathComponent("audit.jsonl"), atomically: true, encoding: .utf8)
    }

    @Test func anAuditExportVerifiesAndEveryTamperingIsNamed() async throws {
        let (_, export, publicKey, manifest) = try await Self.exportAudit()
        #expect(manifest["rows"]?.intValue ?? 0 >= 10, "\(manifest)")
        #expect(manifest["first_seq"] == 1)
        #expect(manifest["chain"] == "contiguous")
        let ok = try runArbiter(["audit", "verify-export", export.path, "--public-key", publicKey])
        #expect(ok.status == 0 && ok.output.contains("export verified: \(manifest["rows"]?.intValue ?? 0) audit entries (jsonl)"), "\(ok.output)")

        // A modified byte.
        var altered = try Self.copy(export)
        var lines = try Self.lines(altered)
        lines[3] = lines[3].replacingOccurrences(of: "\"actor\":\"", with: "\"actor\":\"x")
        try Self.write(lines, to: altered)
        var result = try runArbiter(["audit", "verify-export", altered.path, "--public-key", publicKey])
        #expect(result.status != 0 && result.output.contains("row 4 (seq 4): its hash does not match its contents"), "\(result.output)")

        // A removed row.
        altered = try Self.copy(export)
        lines = try Self.lines(altered)
        lines.remove(at: 5)
        try Self.write(lines, to: altered)
        result = try runArbiter(["audit", "verify-export", altered.path, "--public-key", publicKey])
        #expect(result.status != 0 && result.output.contains("a row is missing or out of order"), "\(result.output)")

        // A reordered row.
        altered = try Self.copy(export)
        lines = try Self.lines(altered)
        lines.swapAt(2, 3)
        try Self.write(lines, to: altered)
        result = try runArbiter(["audit", "verify-export", altered.path, "--public-key", publicKey])
        #expect(result.status != 0 && result.output.contains("missing or out of order"), "\(result.output)")

        // The last row dropped: every remaining row still chains, but the manifest's end does not match.
        altered = try Self.copy(export)
        lines = try Self.lines(altered)
        lines.removeLast()
        try Self.write(lines, to: altered)
        result = try runArbiter(["audit", "verify-export", altered.path, "--public-key", publicKey])
        #expect(result.status != 0 && result.output.contains("NOT verified"), "\(result.output)")

        // A forged manifest: edited, or re-signed with another key.
        altered = try Self.copy(export)
        var fields = try #require(manifest.objectValue)
        fields["rows"] = .int(3)
        try Data(CanonicalJSON.encode(.object(fields))).write(to: altered.appendingPathComponent("manifest.json"))
        result = try runArbiter(["audit", "verify-export", altered.path, "--public-key", publicKey])
        #expect(result.status != 0 && result.output.contains("signature does not match"), "\(result.output)")
        let forged = try ExportManifest.signed(fields, key: ExportSigningKey(privateKey: Curve25519.Signing.PrivateKey()))
        try Data(CanonicalJSON.encode(forged)).write(to: altered.appendingPathComponent("manifest.json"))
        result = try runArbiter(["audit", "verify-export", altered.path, "--public-key", publicKey])
        #expect(result.status != 0 && result.output.contains("signature does not match"), "\(result.output)")
    }

    @Test func aFilteredExportChecksEachEntryAndRefusesBadRequests() async throws {
        let (data, export, publicKey, manifest) = try await Self.exportAudit(filters: #", "filters": {"kind": "decision.made"}"#)
        #expect(manifest["rows"] == 5, "\(manifest)")
        #expect(manifest["chain"] == "filtered")
        #expect(try Self.lines(export).allSatisfy { $0.contains("\"kind\":\"decision.made\"") })
        let ok = try runArbiter(["audit", "verify-export", export.path, "--public-key", publicKey])
        #expect(ok.status == 0, "\(ok.output)")
        let mode = try FileManager.default.attributesOfItem(atPath: export.appendingPathComponent("audit.jsonl").path)[.posixPermissions] as? Int
        #expect(mode == 0o600)

        let app = try await buildApplication(ServerConfiguration(dataDirectory: data, policiesDirectory: nil, adminKey: EventsHarness.admin),
                                             database: try AppDatabase.open(path: URL(fileURLWithPath: data).appendingPathComponent("arbiter.sqlite").path))
        try await app.test(.router) { client in
            let (status, problem) = try await P.send(client, .post, "/v1/exports", key: EventsHarness.admin,
                                                     body: #"{"kind": "ledger", "from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z", "format": "xml", "filters": {"actor": 5}}"#)
            #expect(status == .unprocessableContent)
            #expect(Set(problem["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? []) == ["kind", "to", "format", "filters.actor"], "\(problem)")
            let (missing, _) = try await P.send(client, .get, "/v1/exports/..%2F..%2Fetc/manifest", key: EventsHarness.admin)
            #expect(missing == .notFound)
            let (reviewer, _) = try await P.send(client, .post, "/v1/exports", key: "nope", body: "{}")
            #expect(reviewer == .unauthorized)
        }
    }

    /// `arbiter audit export` from a running server and straight from its database file: both
    /// verify offline with the key `arbiter audit public-key` prints.
    @Test func theCLIExportsFromAServerOrADatabaseFile() async throws {
        try await CrashSafetyTests.withServer { client, base, data in
            let auditor = try await client.key("auditor")
            let submitter = try await client.key("submitter")
            for n in 0..<3 {
                let body = CanonicalJSON.string(.object(validEnvelope("credit.requested", account: "acct_\(n)")))
                let (status, _, _) = try await client.send(.POST, "/v1/events", key: submitter, body: body)
                #expect(status == 201)
            }
            let db = URL(fileURLWithPath: data).appendingPathComponent("arbiter.sqlite").path
            let keyDirectory = scratchDirectory()
            try FileManager.default.createDirectory(atPath: keyDirectory, withIntermediateDirectories: true)
            let keyFile = URL(fileURLWithPath: keyDirectory).appendingPathComponent("arbiter.pub").path
            let printed = try runArbiter(["audit", "public-key", "--db", db])
            try printed.output.write(toFile: keyFile, atomically: true, encoding: .utf8)
            let range = ["--from", Timestamp.format(Date().addingTimeInterval(-3600)), "--to", Timestamp.format(Date().addingTimeInterval(60))]
            let viaServer = URL(fileURLWithPath: scratchDirectory()).appendingPathComponent("from-server").path
            let viaFile = URL(fileURLWithPath: scratchDirectory()).appendingPathComponent("from-file").path
            let exported = try runArbiter(["audit", "export", "--kind", "audit"] + range + ["--out", viaServer, "--server", base],
                                          environment: ["ARBITER_KEY": auditor])
            #expect(exported.status == 0 && exported.output.contains("audit entries"), "\(exported.output)")
            let direct = try runArbiter(["audit", "export", "--kind", "audit", "--format", "csv"] + range
                                        + ["--out", viaFile, "--db", db, "--entry-kind", "decision.made"])
            #expect(direct.status == 0 && direct.output.contains("exported 3 audit entries"), "\(direct.output)")
            let decisionsViaServer = viaServer + "-decisions"
            let decisionsViaFile = viaFile + "-decisions"
            let viaServerDecisions = try runArbiter(["audit", "export", "--kind", "decisions", "--format", "csv"] + range
                                                    + ["--out", decisionsViaServer, "--server", base], environment: ["ARBITER_KEY": auditor])
            #expect(viaServerDecisions.status == 0 && viaServerDecisions.output.contains("exported 3 decisions"), "\(viaServerDecisions.output)")
            let viaFileDecisions = try runArbiter(["audit", "export", "--kind", "decisions", "--account-id", "acct_1"] + range
                                                  + ["--out", decisionsViaFile, "--db", db])
            #expect(viaFileDecisions.status == 0 && viaFileDecisions.output.contains("exported 1 decisions"), "\(viaFileDecisions.output)")
            for folder in [viaServer, viaFile, decisionsViaServer, decisionsViaFile] {
                let verified = try runArbiter(["audit", "verify-export", folder, "--public-key", keyFile])
                #expect(verified.status == 0 && verified.output.contains("export verified"), "\(folder): \(verified.output)")
            }
            let again = try runArbiter(["audit", "export", "--kind", "audit"] + range + ["--out", viaFile, "--db", db])
            #expect(again.status != 0 && again.output.contains("already exists"), "\(again.output)")
            let wrong = try runArbiter(["audit", "export", "--kind", "ledger", "--format", "xml", "--entry-kind", "x"] + range
                                       + ["--out", viaFile + "2", "--db", db])
            #expect(wrong.status != 0 && wrong.output.contains("--kind: must be decisions or audit")
                    && wrong.output.contains("--format: must be jsonl or csv"), "\(wrong.output)")
            let mixed = try runArbiter(["audit", "export", "--kind", "decisions", "--entry-kind", "decision.made"] + range
                                       + ["--out", viaFile + "3", "--db", db])
            #expect(mixed.status != 0 && mixed.output.contains("--entry-kind: is not a filter of this kind"), "\(mixed.output)")
        }
    }
}
