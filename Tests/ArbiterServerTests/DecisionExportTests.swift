import ArbiterCore
import ArbiterServer
import ArbiterSQLite
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// Decision exports and CSV: what an auditor gets over the API, checked the way the auditor
/// checks it (fetched, then verified offline), with configured fields masked.
@Suite(.timeLimit(.minutes(5))) struct DecisionExportTests {
    typealias P = PoliciesTests

    static let window = #""from": "2026-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z""#

    /// Fetches export `id` (file and manifest) into a directory of its own, as the CLI does.
    static func fetch(_ client: some TestClientProtocol, _ id: String, key: String) async throws -> (folder: URL, manifest: JSONValue, text: String) {
        let (_, manifest) = try await P.send(client, .get, "/v1/exports/\(id)/manifest", key: key)
        let name = try #require(manifest["file"]?.stringValue)
        let (contentType, text) = try await client.execute(uri: "/v1/exports/\(id)/file", method: .get,
                                                           headers: [.authorization: "Bearer \(key)"]) {
            ($0.headers[.contentType] ?? "", String(buffer: $0.body))
        }
        #expect(contentType.hasPrefix(name.hasSuffix(".csv") ? "text/csv" : "application/x-ndjson"))
        let folder = URL(fileURLWithPath: scratchDirectory()).appendingPathComponent(id)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: folder.appendingPathComponent(name))
        try Data(CanonicalJSON.encode(manifest)).write(to: folder.appendingPathComponent("manifest.json"))
        return (folder, manifest, text)
    }

    /// Posts an export that must finish in the request; returns its id.
    static func export(_ client: some TestClientProtocol, _ body: String, key: String) async throws -> String {
        let (status, created) = try await P.send(client, .post, "/v1/exports", key: key, body: body)
        #expect(status == .created, "\(created)")
        return try #require(created["id"]?.stringValue)
    }

    static func publicKey(_ client: some TestClientProtocol, key: String) async throws -> Curve25519.Signing.PublicKey {
        let (_, published) = try await P.send(client, .get, "/v1/exports/public-key", key: key)
        return try #require(ExportSigningKey.publicKey(from: published["public_key"]?.stringValue ?? ""))
    }

    static func records(_ text: String) -> [[String]] {
        var reader = CSV.Reader()
        var records: [[String]] = []
        reader.feed(Array(text.utf8)) { records.append($0) }
        reader.finish { records.append($0) }
        return records
    }

    @Test func aDecisionExportCarriesTheWholeCaseMaskedInBothFormats() async throws {
        let spool = scratchDirectory()
        try await EventsHarness.run(erp: .spool(directory: spool), exportMaskPaths: [["payload", "customer_email"]]) { client, h in
            try await ReviewsTests.standardAccount(client, h)
            let auditor = try await ReviewsTests.key(h, "internal audit", .auditor).secret
            let reviewer = try await ReviewsTests.key(h, "ana", .reviewer)
            let email: JSONValue = "ann@example.com"
            let (small, approved, _) = try await h.post(client, validEnvelope("credit.requested", payload: ["amount_minor": 500, "customer_email": email]))
            #expect(small == .created && approved["decision"]?["outcome"] == "approve", "\(approved)")
            let (large, reviewed, _) = try await h.post(client, validEnvelope("credit.requested", payload: ["amount_minor": 15000, "customer_email": email]))
            #expect(large == .created && reviewed["decision"]?["outcome"] == "review", "\(reviewed)")
            let reviewId = try #require(reviewed["decision"]?["review_id"]?.stringValue)
            let (ok, _) = try await ReviewsTests.command(client, h, reviewId, "approve", key: reviewer.secret, ["comment": "goodwill, long-time customer"])
            #expect(ok == .ok)
            #expect(try await eventually {
                let delivered = try await P.send(client, .get, "/v1/audit?kind=action.delivered", key: auditor).1["items"]?.arrayValue ?? []
                return delivered.count == 2
            })

            // The live API keeps the real value for the roles that may read it.
            let eventId = try #require(reviewed["event_id"]?.stringValue ?? reviewed["event"]?["id"]?.stringValue)
            let (_, live) = try await P.send(client, .get, "/v1/events/\(eventId)", key: auditor)
            #expect(CanonicalJSON.string(live).contains("ann@example.com"), "\(live)")

            let jsonl = try await Self.export(client, #"{"kind": "decisions", \#(Self.window), "format": "jsonl"}"#, key: auditor)
            let (folder, manifest, text) = try await Self.fetch(client, jsonl, key: auditor)
            #expect(!text.contains("ann@example.com"))
            let rows = try text.split(separator: "\n").map { try JSONValue.parse(Data($0.utf8)) }
            #expect(rows.count == 2 && manifest["rows"] == 2 && manifest["kind"] == "decisions")
            #expect(manifest["masked_fields"] == ["payload.customer_email"])
            let token = try #require(rows[0]["payload"]?["customer_email"]?.stringValue)
            #expect(token.hasPrefix("hmac-sha256:") && token.count == "hmac-sha256:".count + 64)
            #expect(rows[1]["payload"]?["customer_email"]?.stringValue == token, "the same value masks to the same token")
            #expect(rows[0]["payload"]?["amount_minor"] == 500, "unmasked fields stay as submitted")

            let review = try #require(rows.first { $0["outcome"] == "review" })
            #expect(review["decision_id"] == reviewed["decision"]?["id"] || review["review_id"] == .string(reviewId))
            #expect(review["queue"] == "credits" && review["amount"] == "150.00" && review["currency"] == "USD")
            #expect(review["account_id"] == "acct_1" && review["correlation_id"] == "case-42" && review["source"] == "zendesk")
            #expect(review["review_state"] == "approved")
            let decided = review["review_decisions"]?.arrayValue ?? []
            #expect(decided.count == 1 && decided[0]["reviewer"] == .string(reviewer.id) && decided[0]["action"] == "approved"
                    && decided[0]["comment"] == "goodwill, long-time customer", "\(decided)")
            #expect(review["erp_status"] == "delivered" && review["erp_references"]?.arrayValue?.count == 1, "\(review)")
            #expect(review["actions"]?.arrayValue?.first?["amount"] == "150.00", "\(review)")
            let policy = review["policies"]?.arrayValue?.first { $0["name"] == "credit_thresholds" }
            #expect(policy?["version"]?.stringValue?.count == 64 && policy?["outcome"] == "review", "\(review)")
            #expect((policy?["reasons"]?.arrayValue?.count ?? 0) > 0, "\(review)")
            // Each row names its decision.made audit entry; the manifest covers the lowest and highest.
            let entries = try await P.send(client, .get, "/v1/audit?kind=decision.made", key: auditor).1["items"]?.arrayValue ?? []
            for row in rows {
                let entry = entries.first { $0["subject"] == row["decision_id"] }
                #expect(entry?["seq"] == row["audit_seq"] && entry?["hash"] == row["audit_hash"], "\(row)")
            }
            #expect(manifest["first_seq"] == entries.first?["seq"] && manifest["last_hash"] == entries.last?["hash"])
            let key = try await Self.publicKey(client, key: auditor)
            #expect(ExportVerifier.verify(directory: folder, publicKey: key).isVerified)

            // CSV: a header, one record per decision, amounts also as decimal strings, nested values as JSON text.
            let csv = try await Self.export(client, #"{"kind": "decisions", \#(Self.window), "format": "csv"}"#, key: auditor)
            let (csvFolder, csvManifest, csvText) = try await Self.fetch(client, csv, key: auditor)
            #expect(csvText.hasSuffix("\r\n"))
            let records = Self.records(csvText)
            #expect(records.first == DecisionExportRow.columns && records.count == 3, "\(records)")
            let column = { (name: String) in DecisionExportRow.columns.firstIndex(of: name)! }
            let reviewRecord = try #require(records.dropFirst().first { $0[column("outcome")] == "review" })
            #expect(reviewRecord[column("amount_minor")] == "15000" && reviewRecord[column("amount")] == "150.00")
            #expect(reviewRecord[column("erp_status")] == "delivered" && reviewRecord[column("review_state")] == "approved")
            let payload = try JSONValue.parse(Data(reviewRecord[column("payload")].utf8))
            #expect(payload["customer_email"]?.stringValue == token, "masking is stable across exports and formats")
            #expect(try JSONValue.parse(Data(reviewRecord[column("policies")].utf8)).arrayValue?.isEmpty == false)
            #expect(csvManifest["masking_key_id"] == manifest["masking_key_id"])
            #expect(ExportVerifier.verify(directory: csvFolder, publicKey: key).isVerified)

            // Filters.
            for (filters, expected) in [(#"{"outcome": "review"}"#, 1), (#"{"queue": "credits"}"#, 1), (#"{"policy": "credit_thresholds"}"#, 2),
                                        (#"{"policy": "refund_limits"}"#, 0), (#"{"account_id": "acct_2"}"#, 0),
                                        (#"{"account_id": "acct_1", "outcome": "approve"}"#, 1)] {
                let id = try await Self.export(client, #"{"kind": "decisions", \#(Self.window), "filters": \#(filters)}"#, key: auditor)
                let (_, filtered, _) = try await Self.fetch(client, id, key: auditor)
                #expect(filtered["rows"] == .int(Int64(expected)), "\(filters): \(filtered)")
            }
            let (refused, problem) = try await P.send(client, .post, "/v1/exports", key: auditor,
                                                      body: #"{"kind": "decisions", \#(Self.window), "filters": {"kind": "decision.made", "outcome": "maybe"}}"#)
            #expect(refused == .unprocessableContent)
            #expect(Set(problem["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? []) == ["filters.kind", "filters.outcome"], "\(problem)")
        }
    }

    @Test func anAuditCSVExportVerifiesDefusesFormulasAndCatchesTampering() async throws {
        try await EventsHarness.run { client, h in
            let auditor = try await ReviewsTests.key(h, "internal audit", .auditor).secret
            var envelope = validEnvelope("credit.requested")
            envelope["correlation_id"] = #"=HYPERLINK("http://evil.example","x")"#
            let (status, _, _) = try await h.post(client, envelope)
            #expect(status == .created)
            _ = try await h.post(client, validEnvelope("refund.requested"))
            let id = try await Self.export(client, #"{"kind": "audit", \#(Self.window), "format": "csv"}"#, key: auditor)
            let (folder, manifest, text) = try await Self.fetch(client, id, key: auditor)
            let records = Self.records(text)
            #expect(records.first == ["seq", "at", "actor", "kind", "subject", "correlation_id", "data", "prev_hash", "hash"])
            #expect(records.count == Int(manifest["rows"]?.intValue ?? 0) + 1)
            #expect(records.dropFirst().contains { $0[5] == #"'=HYPERLINK("http://evil.example","x")"# }, "a formula is defused: \(records)")
            let key = try await Self.publicKey(client, key: auditor)
            #expect(ExportVerifier.verify(directory: folder, publicKey: key).isVerified, "\(ExportVerifier.verify(directory: folder, publicKey: key))")

            // A changed byte inside a record, and two records swapped.
            let file = folder.appendingPathComponent("audit.csv")
            let altered = text.replacingOccurrences(of: "refund.requested", with: "refund.requestet")
            try Data(altered.utf8).write(to: file)
            #expect(ExportVerifier.verify(directory: folder, publicKey: key).problem?.contains("altered") == true)
            var lines = text.components(separatedBy: "\r\n")
            lines.swapAt(1, 2)
            try Data(lines.joined(separator: "\r\n").utf8).write(to: file)
            let swapped = ExportVerifier.verify(directory: folder, publicKey: key).problem ?? ""
            #expect(swapped.contains("missing or out of order") || swapped.contains("SHA-256"), "\(swapped)")
        }
    }

    /// An export that outlasts the request's wait answers 202 and is polled to the end; one cut
    /// short by a restart is reported failed, never half-served.
    @Test func longExportsRunAsJobsAndARestartReportsTheUnfinished() async throws {
        try await EventsHarness.run(exportInlineWait: .zero) { client, h in
            let auditor = try await ReviewsTests.key(h, "internal audit", .auditor).secret
            for n in 0..<20 { _ = try await h.post(client, validEnvelope("credit.requested", account: "acct_\(n)")) }
            let (status, started) = try await P.send(client, .post, "/v1/exports", key: auditor,
                                                     body: #"{"kind": "decisions", \#(Self.window), "format": "csv"}"#)
            #expect(status == .accepted || status == .created, "\(started)")
            if status == .accepted { #expect(started["status"] == "running" && started["rows_written"] != nil, "\(started)") }
            let id = try #require(started["id"]?.stringValue)
            var job = started
            #expect(try await eventually {
                job = try await P.send(client, .get, "/v1/exports/\(id)", key: auditor).1
                return job["status"] == "done"
            }, "\(job)")
            #expect(job["manifest"]?["rows"] == 20)
        }

        let data = scratchDirectory()
        let unfinished = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
        try FileManager.default.createDirectory(atPath: "\(data)/exports/\(unfinished).partial", withIntermediateDirectories: true)
        try Data("{\"half\":".utf8).write(to: URL(fileURLWithPath: "\(data)/exports/\(unfinished).partial/decisions.jsonl"))
        let app = try await buildApplication(ServerConfiguration(dataDirectory: data, policiesDirectory: nil, adminKey: EventsHarness.admin),
                                             database: try AppDatabase.open(path: "\(data)/arbiter.sqlite"))
        try await app.test(.router) { client in
            let (status, body) = try await P.send(client, .get, "/v1/exports/\(unfinished)", key: EventsHarness.admin)
            #expect(status == .ok && body["status"] == "failed" && body["error"]?.stringValue?.contains("interrupted") == true, "\(body)")
            let (file, _) = try await P.send(client, .get, "/v1/exports/\(unfinished)/file", key: EventsHarness.admin)
            #expect(file == .notFound)
        }
        #expect(!FileManager.default.fileExists(atPath: "\(data)/exports/\(unfinished).partial"))
    }

    @Test func maskingSettingsNameTheirMistakes() throws {
        #expect(throws: Refusal.self) { try ExportMasking.paths(from: ["mask": ["customer_email"]]) }
        do {
            _ = try ExportMasking.paths(from: ["mask": ["customer_email", "payload.", "payload.customer_email"], "hash": true])
            Issue.record("bad settings were accepted")
        } catch let invalid as Refusal {
            #expect(invalid.errors.map(\.field) == ["hash", "mask[0]", "mask[1]"], "\(invalid.errors)")
        }
        #expect(try ExportMasking.paths(from: ["mask": ["payload.customer.email", "account_id"]]) == [["payload", "customer", "email"], ["account_id"]])
    }
}

extension ExportVerifier.Outcome {
    var isVerified: Bool { if case .verified = self { true } else { false } }
    var problem: String? { if case .failed(let problem) = self { problem } else { nil } }
}
