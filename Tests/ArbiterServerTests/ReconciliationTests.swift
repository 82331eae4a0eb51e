import ArbiterApp
import ArbiterCore
import ArbiterERP
import ArbiterSQLite
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import Testing
@testable import ArbiterServer

/// Reconciliation through the API (and `arbiter reconcile --db`): money actions delivered to the
/// NetSuite or Business Central stand-ins, the ERP's side as an uploaded export (the shipped
/// mapping files) or pulled from the stand-in, every class, the signed manifest checked offline,
/// exceptions as work (resend, cancel, accept, owner) and re-runs that neither duplicate nor
/// forget them.
@Suite(.timeLimit(.minutes(5))) struct ReconciliationTests {
    typealias P = PoliciesTests
    static let header = "External ID,Document Number,Amount,Currency,Date,Status,Type"

    /// The approve-all policies with the shipped mapping files beside them.
    static func policies() throws -> String {
        let directory = try DeliveryTests.approveAllPolicies()
        try FileManager.default.copyItem(at: repositoryRoot.appendingPathComponent("Policies/reconciliation"),
                                         to: URL(fileURLWithPath: directory).appendingPathComponent("reconciliation"))
        return directory
    }

    /// The period around now, to the second (with `as_of`: the same request gives the same report).
    static let period: String = {
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        let (from, to) = (Timestamp.format(now.addingTimeInterval(-3600)), Timestamp.format(now.addingTimeInterval(3600)))
        return "from=\(from)&to=\(to)&as_of=\(to)"
    }()

    /// Uploads `csv` (as a spreadsheet saves it: a byte-order mark, CRLF) for a run.
    static func upload(_ client: some TestClientProtocol, _ csv: [String], mapping: String = "netsuite-credits",
                       key: String = EventsHarness.admin) async throws -> (HTTPResponse.Status, JSONValue) {
        let body = "\u{FEFF}" + csv.joined(separator: "\r\n") + "\r\n"
        return try await P.send(client, .post, "/v1/reconciliations?mapping=\(mapping)&\(period)", key: key, body: body, contentType: "text/csv")
    }

    static func credits(_ client: some TestClientProtocol, _ h: EventsHarness, _ amounts: [Int64]) async throws -> [String] {
        var ids: [String] = []
        for amount in amounts { ids.append(try await DeliveryTests.credit(client, h, amount: amount)) }
        #expect(try await eventually {
            for id in ids where try await DeliveryTests.status(h, id) != "delivered" { return false }
            return true
        })
        return ids
    }

    static func openExceptions(_ client: some TestClientProtocol) async throws -> [JSONValue] {
        try await P.send(client, .get, "/v1/reconciliations/exceptions?state=open&limit=500", key: EventsHarness.admin).1["items"]?.arrayValue ?? []
    }

    static func download(_ client: some TestClientProtocol, _ id: String, to directory: URL) async throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (path, name) in [("csv", "reconciliation.csv"), ("report", "reconciliation.json"), ("manifest", "manifest.json"), ("erp-file", "erp.csv")] {
            let data = try await client.execute(uri: "/v1/reconciliations/\(id)/\(path)", method: .get,
                                                headers: [.authorization: "Bearer \(EventsHarness.admin)"]) { response in
                #expect(response.status == .ok, "\(path)")
                return Data(response.body.readableBytesView)
            }
            try data.write(to: directory.appendingPathComponent(name))
        }
    }

    static func publicKey(_ client: some TestClientProtocol) async throws -> Curve25519.Signing.PublicKey {
        let text = try #require(try await P.send(client, .get, "/v1/exports/public-key", key: EventsHarness.admin).1["public_key"]?.stringValue)
        return try #require(ExportSigningKey.publicKey(from: text))
    }

    @Test func anUploadedExportIsClassifiedRowByRowSignedAuditedAndReRunWithoutDuplicates() async throws {
        let netsuite = try await NetSuiteTests.start()
        defer { netsuite.stop() }
        try await EventsHarness.run(policies: try Self.policies(), targets: NetSuiteTests.targets(netsuite)) { client, h in
            try await NetSuiteTests.account(client, h)
            let ids = try await Self.credits(client, h, [123_450, 2_500, 2_500, 2_500, 990])
            let (a, b, c, d, e) = (ids[0], ids[1], ids[2], ids[3], ids[4])
            let rows = [Self.header,
                        "\(e),CM7,9.90,USD,2026-12-05,Open,Credit Memo",
                        "X-17,CM9,10.00,USD,2026-12-05,Open,Credit Memo",
                        "\(a),CM1,\"1,234.50\",USD,2026-12-05,Open,Credit Memo",
                        "\(b),CM2,30.00,USD,2026-12-05,Open,Credit Memo",
                        "\(c),CM3,25.00,USD,2026-12-05,Voided,Credit Memo",
                        "\(e),CM8,9.90,USD,2026-12-05,Open,Credit Memo"]
            let (status, run) = try await Self.upload(client, rows)
            #expect(status == .created, "\(run)")
            let counts = try #require(run["counts"])
            #expect(counts["matched"] == 1 && counts["amount_mismatch"] == 1 && counts["status_mismatch"] == 1, "\(counts)")
            #expect(counts["missing_in_erp"] == 1 && counts["unexpected_in_erp"] == 1 && counts["duplicate"] == 2, "\(counts)")
            #expect(run["exceptions"] == 6 && run["exceptions_opened"] == 5, "one exception per subject: e's two duplicate rows are one")
            let open = try await Self.openExceptions(client)
            #expect(Set(open.compactMap { $0["subject"]?.stringValue }) == [b, c, d, e, "erp:X-17"])
            #expect(open.first { $0["subject"]?.stringValue == b }?["reason"] == "30.00 USD in the ERP, 25.00 approved")

            // The files verify offline with the public key; any change is named.
            let id = try #require(run["id"]?.stringValue)
            let folder = URL(fileURLWithPath: scratchDirectory()).appendingPathComponent("recon")
            try await Self.download(client, id, to: folder)
            let key = try await Self.publicKey(client)
            guard case .verified(let what) = ExportVerifier.verify(directory: folder, publicKey: key) else {
                Issue.record("\(ExportVerifier.verify(directory: folder, publicKey: key))")
                return
            }
            #expect(what.contains("7 rows") && what.contains("6 exceptions"), "\(what)")
            let report = try JSONValue.parse(Data(contentsOf: folder.appendingPathComponent("reconciliation.json")))
            #expect(report["totals"]?.arrayValue?.first?["difference_minor"] == .int(500 + 990 + 1_000 - 2_500), "\(report["totals"] ?? .null)")
            let csv = try String(contentsOf: folder.appendingPathComponent("reconciliation.csv"), encoding: .utf8)
            try csv.replacingOccurrences(of: "30.00", with: "25.00").write(to: folder.appendingPathComponent("reconciliation.csv"), atomically: true, encoding: .utf8)
            #expect(ExportVerifier.verify(directory: folder, publicKey: key) == .failed("reconciliation.csv's SHA-256 does not match the manifest"))

            // One audit entry with the counts and the report's digest.
            let audit = try #require(try await h.database.string("SELECT data FROM audit_log WHERE kind = 'reconciliation.completed' AND subject = ?", [id]))
            let data = try JSONValue.parse(Data(audit.utf8))
            #expect(data["report_sha256"] == run["report_sha256"] && data["counts"] == run["counts"])

            // The same inputs: the same report byte for byte, no new exception.
            let (_, again) = try await Self.upload(client, rows)
            #expect(again["report_sha256"] == run["report_sha256"] && again["exceptions_opened"] == 0 && again["exceptions_closed"] == 0, "\(again)")
            #expect(try await Self.openExceptions(client).count == 5)

            // b corrected in the ERP: its exception closes as matched; the others stay, once each.
            let fixed = rows.map { $0.hasPrefix(b) ? "\(b),CM2,25.00,USD,2026-12-05,Open,Credit Memo" : $0 }
            let (_, third) = try await Self.upload(client, fixed)
            #expect(third["exceptions_closed"] == 1 && third["exceptions_opened"] == 0, "\(third)")
            let after = try await Self.openExceptions(client)
            #expect(after.count == 4 && !after.contains { $0["subject"]?.stringValue == b })
            let closed = try await P.send(client, .get, "/v1/reconciliations/exceptions?state=resolved", key: EventsHarness.admin).1["items"]?.arrayValue
            #expect(closed?.first?["resolution"] == "matched" && closed?.first?["resolved_by"]?.stringValue == "reconciliation:\(third["id"]?.stringValue ?? "")")
        }
    }

    @Test func exceptionsAreResolvedByResendCancelOrAcceptWithTheirRulesAndRoles() async throws {
        let netsuite = try await NetSuiteTests.start()
        defer { netsuite.stop() }
        try await EventsHarness.run(policies: try Self.policies(), targets: NetSuiteTests.targets(netsuite)) { client, h in
            try await NetSuiteTests.account(client, h)
            let keys = Keys(store: h.database.keys)
            let auditor = try await keys.create(name: "ines", role: .auditor, by: "test").secret
            let operatorKey = try await keys.create(name: "omar", role: .operator, by: "test").secret
            #expect(try await Self.upload(client, [Self.header], key: h.submitter).0 == .forbidden)
            let ids = try await Self.credits(client, h, [2_500, 2_500])
            let (missing, voided) = (ids[0], ids[1])
            let (status, run) = try await Self.upload(client, [Self.header, "\(voided),CM3,25.00,USD,2026-12-05,Voided,Credit Memo",
                                                               ",CM9,10.00,USD,2026-12-05,Open,Credit Memo"], key: auditor)
            #expect(status == .created, "an auditor runs reconciliations: \(run)")
            let open = try await Self.openExceptions(client)
            func exception(_ subject: String) throws -> String { try #require(open.first { $0["subject"]?.stringValue == subject }?["id"]?.stringValue) }
            let (missingId, voidedId, keylessId) = (try exception(missing), try exception(voided), try exception("erp:document:CM9"))
            func resolve(_ id: String, _ body: String, key: String = operatorKey) async throws -> (HTTPResponse.Status, JSONValue) {
                try await P.send(client, .post, "/v1/reconciliations/exceptions/\(id)/resolve", key: key, body: body)
            }
            #expect(try await resolve(missingId, #"{"resolution": "resend"}"#, key: auditor).0 == .forbidden, "auditors read; operators resolve")

            // Resend: the delivered action goes again under its key; NetSuite upserts the same record.
            let (resent, resentBody) = try await resolve(missingId, #"{"resolution": "resend", "comment": "absent from the ledger"}"#)
            #expect(resent == .ok && resentBody["resolution"] == "resend" && resentBody["state"] == "resolved", "\(resentBody)")
            #expect(try await eventually {
                let attempts = try await DeliveryTests.action(client, h, missing)["attempts"]
                let status = try await DeliveryTests.status(h, missing)
                return attempts == 1 && status == "delivered"
            })
            #expect(try await NetSuiteTests.records(netsuite).count == 2, "the same external id: no second document")
            #expect(try await h.database.string("SELECT kind FROM audit_log WHERE kind = 'action.resent' AND subject = ?", [missing]) == "action.resent")
            #expect(try await resolve(missingId, #"{"resolution": "accept", "comment": "x"}"#).0 == .conflict, "resolved already")

            // Cancel refuses a delivered action; accept needs a comment; an ERP row without an action can only be accepted.
            let (cancelled, cancelBody) = try await resolve(voidedId, #"{"resolution": "cancel", "comment": "void"}"#)
            #expect(cancelled == .conflict && cancelBody["detail"]?.stringValue?.contains("only a pending or dead action") == true, "\(cancelBody)")
            let (noComment, noCommentBody) = try await resolve(voidedId, #"{"resolution": "accept"}"#)
            #expect(noComment == .unprocessableContent && noCommentBody["errors"]?.arrayValue?.first?["field"] == "comment")
            #expect(try await resolve(keylessId, #"{"resolution": "resend"}"#).0 == .conflict)
            #expect(try await resolve(voidedId, #"{"resolution": "matched", "comment": "x"}"#).0 == .unprocessableContent)
            let (accepted, acceptedBody) = try await resolve(voidedId, #"{"resolution": "accept", "comment": "voided and reissued as CM4 by finance"}"#)
            #expect(accepted == .ok && acceptedBody["comment"] == "voided and reissued as CM4 by finance")
            #expect(try await h.database.string("SELECT actor FROM audit_log WHERE kind = 'reconciliation.exception_resolved' AND subject = ?", [voidedId]) != nil)

            // An owner.
            let (assigned, owner) = try await P.send(client, .post, "/v1/reconciliations/exceptions/\(keylessId)/assign", key: operatorKey,
                                                     body: #"{"owner": "ana@finance"}"#)
            #expect(assigned == .ok && owner["owner"] == "ana@finance")
            #expect(try await P.send(client, .post, "/v1/reconciliations/exceptions/\(keylessId)/assign", key: operatorKey, body: #"{"owner": 3}"#).0
                    == .unprocessableContent)

            // Re-run with the ERP unchanged: the accepted and resent ones are not reopened as duplicates of open ones;
            // the keyless row is still one open exception.
            let (_, rerun) = try await Self.upload(client, [Self.header, "\(voided),CM3,25.00,USD,2026-12-05,Voided,Credit Memo",
                                                            ",CM9,10.00,USD,2026-12-05,Open,Credit Memo"])
            let stillOpen = try await Self.openExceptions(client)
            #expect(stillOpen.filter { $0["subject"] == "erp:document:CM9" }.count == 1, "\(rerun)")
            #expect(stillOpen.first { $0["subject"] == "erp:document:CM9" }?["owner"] == "ana@finance", "a re-run keeps the owner")
        }
    }

    @Test func badInputIsRefusedNamingTheFieldAndNothingIsStored() async throws {
        try await EventsHarness.run(policies: try Self.policies()) { client, h in
            let (unknown, unknownBody) = try await Self.upload(client, [Self.header], mapping: "nope")
            #expect(unknown == .unprocessableContent && unknownBody["errors"]?.arrayValue?.first?["field"] == "mapping", "\(unknownBody)")
            #expect(unknownBody["detail"]?.stringValue?.contains("business-central-credits, netsuite-credits") == true, "names the saved ones")
            let (wrong, wrongBody) = try await Self.upload(client, ["External ID,Document Number,Amount,Currency,Date,Type", "x,1,1.00,USD,d,Credit Memo"])
            #expect(wrong == .unprocessableContent, "\(wrongBody)")
            #expect(wrongBody["errors"]?.arrayValue?.first?["field"] == "columns.status"
                    && wrongBody["detail"]?.stringValue?.contains("no column \"Status\"") == true, "\(wrongBody)")
            let (empty, emptyBody) = try await P.send(client, .post, "/v1/reconciliations?mapping=netsuite-credits&\(Self.period)",
                                                      key: EventsHarness.admin, body: "", contentType: "text/csv")
            #expect(empty == .unprocessableContent && emptyBody["errors"]?.arrayValue?.first?["field"] == "erp_file", "\(emptyBody)")
            let (noPeriod, noPeriodBody) = try await P.send(client, .post, "/v1/reconciliations?mapping=netsuite-credits", key: EventsHarness.admin,
                                                            body: Self.header, contentType: "text/csv")
            #expect(noPeriod == .unprocessableContent && Set(noPeriodBody["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? []) == ["from", "to"])
            let (pull, pullBody) = try await P.send(client, .post, "/v1/reconciliations", key: EventsHarness.admin,
                                                    body: #"{"pull": "erp", "from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}"#)
            #expect(pull == .unprocessableContent && pullBody["errors"]?.arrayValue?.first?["field"] == "pull", "no NetSuite or BC target: \(pullBody)")
            #expect(try await P.send(client, .get, "/v1/reconciliations", key: EventsHarness.admin).1["items"]?.arrayValue?.isEmpty == true)
            #expect(try await h.database.string("SELECT COUNT(*) FROM reconciliation_exceptions") == "0")

            // Mappings through the API: checked before saved.
            let (bad, badBody) = try await P.send(client, .put, "/v1/reconciliations/mappings/sap", key: EventsHarness.admin,
                                                  body: #"{"columns": {"key": "Ref", "amount": "Betrag", "wrong": "x"}}"#)
            #expect(bad == .unprocessableContent, "\(badBody)")
            let fields = Set(badBody["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? [])
            #expect(fields.contains("columns.wrong") && fields.contains("columns.currency"), "\(fields)")
            let definition = #"{"columns": {"key": "Ref", "amount": "Betrag", "currency": "Währung"}, "decimal_separator": ","}"#
            #expect(try await P.send(client, .put, "/v1/reconciliations/mappings/sap", key: EventsHarness.admin, body: definition).0 == .created)
            #expect(try await P.send(client, .put, "/v1/reconciliations/mappings/sap", key: EventsHarness.admin, body: definition).0 == .ok)
            let listed = try await P.send(client, .get, "/v1/reconciliations/mappings", key: EventsHarness.admin).1["items"]?.arrayValue ?? []
            #expect(listed.map { "\($0["name"]?.stringValue ?? ""):\($0["origin"]?.stringValue ?? "")" }
                    == ["business-central-credits:file", "netsuite-credits:file", "sap:api"])
            let (run, runBody) = try await Self.upload(client, ["Ref,Betrag,Währung", "x,\"1.234,50\",EUR"], mapping: "sap")
            #expect(run == .created && runBody["counts"]?["unexpected_in_erp"] == 1, "\(runBody)")
            #expect(try await P.send(client, .delete, "/v1/reconciliations/mappings/sap", key: EventsHarness.admin).0 == .noContent)
            #expect(try await Self.upload(client, ["Ref"], mapping: "sap").0 == .unprocessableContent)
        }
    }

    @Test func netSuiteIsPulledByExternalIdAndAVoidedMemoIsAStatusMismatch() async throws {
        let netsuite = try await NetSuiteTests.start()
        defer { netsuite.stop() }
        try await EventsHarness.run(policies: try Self.policies(), targets: NetSuiteTests.targets(netsuite)) { client, h in
            try await NetSuiteTests.account(client, h)
            let ids = try await Self.credits(client, h, [123_450, 2_500])
            _ = try await netsuite.call(.POST, "/_control/set", ["type": "creditMemo", "external_id": .string(ids[1]), "fields": ["status": "Voided"]])
            let from = Timestamp.format(Date().addingTimeInterval(-3600)), to = Timestamp.format(Date().addingTimeInterval(3600))
            let (status, run) = try await P.send(client, .post, "/v1/reconciliations", key: EventsHarness.admin,
                                                 body: #"{"pull": "erp", "from": "\#(from)", "to": "\#(to)"}"#)
            #expect(status == .created, "\(run)")
            #expect(run["counts"]?["matched"] == 1 && run["counts"]?["status_mismatch"] == 1 && run["source"] == "pull" && run["mapping"] == "erp", "\(run)")
            // NetSuite down: the pull fails as a bad gateway, nothing recorded.
            _ = try await netsuite.call(.POST, "/_control/fail", ["status": 503, "times": 5])
            let (down, downBody) = try await P.send(client, .post, "/v1/reconciliations", key: EventsHarness.admin,
                                                    body: #"{"pull": "erp", "from": "\#(from)", "to": "\#(to)"}"#)
            #expect(down == .badGateway && downBody["detail"]?.stringValue?.contains("503") == true, "\(downBody)")
            #expect(try await P.send(client, .get, "/v1/reconciliations", key: EventsHarness.admin).1["items"]?.arrayValue?.count == 1)
        }
    }

    /// `--reconcile-every` with `--reconcile-pull`: a run at start (none younger than a period),
    /// as system:reconcile, over the period plus the stale age; a target that cannot be pulled is refused.
    @Test func aScheduledRunPullsAtStartAsTheSystemAndAnUnpullableTargetIsRefused() async throws {
        let netsuite = try await NetSuiteTests.start()
        defer { netsuite.stop() }
        let settings = ReconciliationSettings(every: .seconds(3600), pull: "erp", staleAfter: 600)
        try await EventsHarness.run(policies: try Self.policies(), targets: NetSuiteTests.targets(netsuite), reconciliation: settings) { client, h in
            var runs: [JSONValue] = []
            #expect(try await eventually {
                runs = try await P.send(client, .get, "/v1/reconciliations", key: EventsHarness.admin).1["items"]?.arrayValue ?? []
                return !runs.isEmpty
            })
            let run = try #require(runs.first)
            #expect(run["requested_by"] == "system:reconcile" && run["source"] == "pull" && run["mapping"] == "erp", "\(run)")
            let from = try #require(run["from"]?.stringValue.flatMap(Timestamp.parse)), to = try #require(run["to"]?.stringValue.flatMap(Timestamp.parse))
            #expect(abs(to.timeIntervalSince(from) - 4200) < 1, "one period and the stale age")
        }
        let refused = await #expect(throws: Refusal.self) {
            try await EventsHarness.run(policies: try Self.policies(), targets: NetSuiteTests.targets(netsuite),
                                        reconciliation: ReconciliationSettings(every: .seconds(3600), pull: "billing")) { _, _ in }
        }
        #expect(refused?.errors.first?.field == "reconcile-pull", "a target that cannot be pulled refuses the start")
    }

    @Test func businessCentralIsPulledByDateAndADocumentMadeByHandIsUnexpected() async throws {
        let bc = try await BusinessCentralTests.start()
        defer { bc.stop() }
        try await EventsHarness.run(policies: try Self.policies(), targets: BusinessCentralTests.targets(bc)) { client, h in
            try await h.syncAccount(client, "acct_1", ["status": "active", "currency": "USD", "external_refs": ["business_central": "C10000"]])
            let ids = try await Self.credits(client, h, [4_990])
            let today = String(Timestamp.format(Date()).prefix(10))
            _ = try await bc.call(.POST, "/_control/add", ["document": ["number": "PS-CR900", "externalDocumentNumber": "", "currencyCode": "USD",
                                                                        "creditMemoDate": .string(today), "status": "Open",
                                                                        "totalAmountIncludingTax": 12.0]])
            let from = Timestamp.format(Date().addingTimeInterval(-3600)), to = Timestamp.format(Date().addingTimeInterval(3600))
            let (status, run) = try await P.send(client, .post, "/v1/reconciliations", key: EventsHarness.admin,
                                                 body: #"{"pull": "erp", "from": "\#(from)", "to": "\#(to)"}"#)
            #expect(status == .created, "\(run)")
            #expect(run["counts"]?["matched"] == 1 && run["counts"]?["unexpected_in_erp"] == 1, "\(run)")
            let open = try await Self.openExceptions(client)
            #expect(open.count == 1 && open.first?["subject"] == "erp:document:PS-CR900" && open.first?["amount_minor"] == 1200, "\(open)")
            #expect(!open.contains { $0["action_id"]?.stringValue == ids[0] })
        }
    }
}

/// `arbiter reconcile --db`: on the database file of a stopped server, the same report and
/// manifest as through the API, verified with `arbiter audit verify-export`; refusals name the option.
@Suite(.timeLimit(.minutes(5))) struct ReconcileCommandTests {
    @Test func reconcilingADatabaseFileWritesAVerifiableReportAndRecordsTheRun() async throws {
        let data = scratchDirectory()
        let spool = try temporaryDirectory().path
        let database = URL(fileURLWithPath: data).appendingPathComponent("arbiter.sqlite").path
        let policies = try ReconciliationTests.policies()
        let app = try await buildApplication(
            ServerConfiguration(dataDirectory: data, policiesDirectory: policies, adminKey: EventsHarness.admin,
                                erp: .spool(directory: spool), delivery: DeliveryTests.fast),
            database: try AppDatabase.open(path: database))
        let ids: [String] = try await app.test(.router) { client in
            var ids: [String] = []
            for amount in [2_500, 990] as [Int64] {
                let body = CanonicalJSON.string(.object(validEnvelope("credit.requested", payload: ["amount_minor": .int(amount), "reason": "goodwill"])))
                let (_, created) = try await PoliciesTests.send(client, .post, "/v1/events", key: EventsHarness.admin, body: body)
                ids.append(contentsOf: created["decision"]?["actions"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? [])
            }
            #expect(try await eventually {
                for id in ids where try await PoliciesTests.send(client, .get, "/v1/actions/\(id)", key: EventsHarness.admin).1["status"] != "delivered" {
                    return false
                }
                return true
            })
            return ids
        }
        try #require(ids.count == 2)
        let erp = URL(fileURLWithPath: data).appendingPathComponent("erp-export.csv")
        try "External ID,Document Number,Amount,Currency,Date,Status,Type\r\n\(ids[0]),CM1,25.00,USD,2026-12-05,Open,Credit Memo\r\n"
            .write(to: erp, atomically: true, encoding: .utf8)
        let out = URL(fileURLWithPath: data).appendingPathComponent("recon").path
        let from = Timestamp.format(Date().addingTimeInterval(-3600)), to = Timestamp.format(Date().addingTimeInterval(3600))
        let missingMapping = try runArbiter(["reconcile", "--db", database, "--erp-file", erp.path, "--from", from, "--to", to, "--out", out])
        #expect(missingMapping.status != 0 && missingMapping.output.contains("--mapping: is required"), "\(missingMapping.output)")
        let result = try runArbiter(["reconcile", "--db", database, "--erp-file", erp.path, "--mapping", "netsuite-credits",
                                     "--mappings", policies + "/reconciliation", "--from", from, "--to", to, "--as-of", to, "--out", out])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("matched") && result.output.contains("exceptions: 1"), "\(result.output)")
        #expect(FileManager.default.fileExists(atPath: erp.path), "the ERP's file is copied, not moved")
        let key = try ExportSigningKey.loadOrCreate(in: data).publicKeyText
        let keyFile = URL(fileURLWithPath: data).appendingPathComponent("public.key").path
        try key.write(toFile: keyFile, atomically: true, encoding: .utf8)
        let verified = try runArbiter(["audit", "verify-export", out, "--public-key", keyFile])
        #expect(verified.status == 0 && verified.output.contains("2 rows, 1 exceptions"), "\(verified.output)")
        let store = SQLiteReconciliationStore(database: try AppDatabase.openReadOnly(path: database))
        #expect(try await store.runs(after: nil, limit: 10).items.count == 1)
        #expect(try await store.openExceptions(mapping: "netsuite-credits").map(\.actionId) == [ids[1]])
    }
}
