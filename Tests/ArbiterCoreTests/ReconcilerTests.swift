import ArbiterCore
import Foundation
import Testing

/// Reconciliation through its entry point — a ledger of Arbiter's actions and an ERP file on
/// disk as ERPs and spreadsheets write them — down to every class, the totals and the report's
/// bytes.
@Suite struct ReconcilerTests {
    static let usd = Currency("USD")!
    static let mapping = ERPColumnMapping(name: "netsuite", columns: [.key: "External ID", .document: "Document Number", .amount: "Amount",
                                                                     .currency: "Currency", .status: "Status", .type: "Type"],
                                          posted: ["open", "paid in full"], void: ["voided"],
                                          types: ["credit memo": .creditMemo, "customer refund": .refund])

    static func id(_ n: Int) -> String { String(format: "01a24575-1244-759d-bcbf-%012d", n) }

    /// Actions 1–9 of 25.00 USD, approved on 2026-12-01, in these states.
    static func ledger() -> ReconciliationLedger {
        var ledger = ReconciliationLedger()
        let states: [ReconciliationLedger.Status] = [.delivered, .delivered, .delivered, .delivered, .delivered, .delivered, .dead, .pending, .cancelled]
        for (n, status) in states.enumerated() {
            ledger.append(id: id(n + 1), type: n == 5 ? .refund : .creditMemo, amountMinor: 2500, currency: usd, status: status,
                          approvedAt: n == 7 ? "2026-11-01T10:00:00.000000Z" : "2026-12-01T10:00:00.000000Z",
                          reference: status == .delivered ? "CM\(n + 1)" : nil)
        }
        ledger.append(id: id(10), type: .creditMemo, amountMinor: 2500, currency: usd, status: .pending,
                      approvedAt: "2026-12-04T10:00:00.000000Z", reference: nil)
        return ledger
    }

    static func file(_ text: String, bom: Bool = false, crlf: Bool = true) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("erp-\(UUID().uuidString).csv")
        let body = crlf ? text.replacingOccurrences(of: "\n", with: "\r\n") : text
        try Data((bom ? [0xEF, 0xBB, 0xBF] : []) + Array(body.utf8)).write(to: url)
        return url
    }

    static func run(_ erp: URL, ledger: ReconciliationLedger = ledger(), mapping: ERPColumnMapping = mapping)
        throws -> (rows: [Reconciler.Row], summary: Reconciler.Summary) {
        var rows: [Reconciler.Row] = []
        let summary = try Reconciler.run(ledger: ledger, erpFile: erp, mapping: mapping,
                                         options: .init(staleBefore: "2026-11-28T00:00:00.000000Z")) { rows.append($0) }
        return (rows, summary)
    }

    static let erpRows = """
    Document Number,External ID,Type,Currency,Amount,Status,Date
    CM1,\(id(1)),Credit Memo,USD,25.00,Open,2026-12-01
    CM2,\(id(2)),Credit Memo,USD,"1,234.50",Open,2026-12-01
    CM3,\(id(3)),Credit Memo,EUR,25.00,Open,2026-12-01
    CM4,\(id(4)),Credit Memo,USD,25.00,Voided,2026-12-01
    CM5,\(id(5)),Credit Memo,USD,25.00,Open,2026-12-01
    CM5b,\(id(5)),Credit Memo,USD,25.00,Open,2026-12-02
    RF6,\(id(6)),Customer Refund,USD,(25.00),Paid In Full,2026-12-01
    CM9,\(id(9)),Credit Memo,USD,25.00,Open,2026-12-01
    X1,not-ours,Credit Memo,USD,"$1,000.00",Open,2026-12-01
    X2,,Credit Memo,USD,5.00,Open,2026-12-01
    """

    @Test func everyRowIsClassified() throws {
        let (rows, summary) = try Self.run(try Self.file(Self.erpRows, bom: true))
        func kind(_ n: Int) -> [Reconciler.Class] { rows.filter { $0.action == n - 1 }.map(\.class) }
        #expect(kind(1) == [.matched])
        #expect(kind(2) == [.amountMismatch] && rows.first { $0.action == 1 }?.reason == "1234.50 USD in the ERP, 25.00 approved")
        #expect(kind(3) == [.amountMismatch] && rows.first { $0.action == 2 }?.reason == "currency EUR in the ERP, USD approved")
        #expect(kind(4) == [.statusMismatch])
        #expect(kind(5) == [.duplicate, .duplicate], "the action and its second row")
        #expect(kind(6) == [.matched], "a refund written negative, in parentheses, still matches")
        #expect(kind(7) == [.missingInERP] && rows.first { $0.action == 6 }?.reason == "never delivered: a dead letter")
        #expect(kind(8) == [.stale])
        #expect(kind(9) == [.unexpectedInERP], "cancelled in Arbiter, yet in the ERP")
        #expect(kind(10) == [.pending])
        let others = rows.filter { $0.action == nil }
        #expect(others.map(\.class) == [.unexpectedInERP, .unexpectedInERP])
        #expect(others.map { $0.erp?.document } == ["X2", "X1"], "the ERP's own rows by key: the empty key first")
        #expect(summary.erpRows == 10 && summary.arbiterRows == 9)
        let usdCredits = try #require(summary.totals.first { $0.currency == "USD" && $0.type == "credit_memo" })
        #expect(usdCredits.arbiterMinor == 8 * 2500, "nine credit memos, one cancelled")
        #expect(usdCredits.erpMinor == 2500 + 123_450 + 2500 + 2500 + 2500 + 2500 + 100_000 + 500)
        #expect(summary.totals.contains { $0.currency == "EUR" && $0.erpMinor == 2500 && $0.arbiterMinor == 0 })
    }

    static func report(_ url: URL) throws -> (csv: Data, json: Data) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let ledger = Self.ledger()
        let writer = try ReconciliationReport(ledger: ledger, directory: directory)
        let summary = try Reconciler.run(ledger: ledger, erpFile: url, mapping: Self.mapping,
                                         options: .init(staleBefore: "2026-11-28T00:00:00.000000Z"), emit: writer.add)
        try writer.finish(summary, mapping: Self.mapping, from: "2026-12-01", to: "2026-12-05", staleBefore: "2026-11-28T00:00:00.000000Z",
                          directory: directory)
        return (try Data(contentsOf: directory.appendingPathComponent(ReconciliationReport.csvName)),
                try Data(contentsOf: directory.appendingPathComponent(ReconciliationReport.jsonName)))
    }

    @Test func theSameInputsGiveTheSameReportByteForByteAndReorderedRowsTheSameClasses() throws {
        let file = try Self.file(Self.erpRows)
        let (csv, json) = try Self.report(file)
        let (again, againJSON) = try Self.report(file)
        #expect(csv == again && json == againJSON)
        let text = String(decoding: csv, as: UTF8.self)
        #expect(text.hasPrefix("class,reason,action_id,type,amount,currency,arbiter_status,approved_at,erp_reference,erp_line,"))
        let parsed = try JSONValue.parse(json)
        #expect(parsed["counts"]?["matched"] == 2 && parsed["exceptions_total"] == 10, "\(parsed["counts"] ?? .null)")
        let usdCredits = parsed["totals"]?.arrayValue?.first { $0["currency"] == "USD" && $0["type"] == "credit_memo" }
        let expected: Int64 = 2500 + 123_450 + 2500 * 4 + 100_000 + 500 - 20_000
        #expect(usdCredits?["difference_minor"] == .int(expected), "\(usdCredits ?? .null)")

        // Rows in another order (and LF instead of CRLF): the same class for every action.
        let lines = Self.erpRows.split(separator: "\n").map(String.init)
        let reordered = try Self.file(([lines[0]] + lines.dropFirst().reversed()).joined(separator: "\n"), crlf: false)
        func classes(_ rows: [Reconciler.Row]) -> [String] { rows.map { "\($0.action.map(String.init) ?? $0.erp?.document ?? "")=\($0.class.rawValue)" }.sorted() }
        #expect(classes(try Self.run(file).rows) == classes(try Self.run(reordered).rows))
    }

    @Test func quotedFieldsLineBreaksAndDecimalCommasAreRead() throws {
        var mapping = Self.mapping
        mapping.decimalSeparator = UInt8(ascii: ",")
        let text = "External ID;x\n"   // not this one: the file below
        _ = text
        let file = try Self.file("""
        "External ID","Amount","Currency","Status","Memo, with a comma"
        "\(Self.id(1))","1.234,50","USD","Open","a ""quoted"" memo
        on two lines"
        """)
        var ledger = ReconciliationLedger()
        ledger.append(id: Self.id(1), type: .creditMemo, amountMinor: 123_450, currency: Self.usd, status: .delivered,
                      approvedAt: "2026-12-01T10:00:00.000000Z", reference: "CM1")
        var narrow = mapping
        narrow.columns = [.key: "External ID", .amount: "Amount", .currency: "Currency", .status: "Status"]
        let (rows, _) = try Self.run(file, ledger: ledger, mapping: narrow)
        #expect(rows.map(\.class) == [.matched], "\(rows.map(\.reason))")
    }

    @Test func anEmptyFileOrAWrongHeaderIsAClearError() throws {
        #expect(throws: Refusal.self) { try Self.run(try Self.file("")) }
        do {
            _ = try Self.run(try Self.file("Document,ExternalId,Amount,Currency\nCM1,x,1,USD\n"))
            Issue.record("a wrong header was read")
        } catch let refusal as Refusal {
            #expect(refusal.errors.map(\.field) == ["columns.key", "columns.document", "columns.status", "columns.type"], "\(refusal.errors)")
            #expect(refusal.message.contains("the file has no column"), "\(refusal.message)")
            #expect(refusal.message.contains("its header is: Document, ExternalId, Amount, Currency"), "\(refusal.message)")
        }
        // A header only: every delivered action is missing.
        let (rows, _) = try Self.run(try Self.file("Document Number,External ID,Type,Currency,Amount,Status\n"))
        #expect(rows.filter { $0.class == .missingInERP }.count == 7)
    }

    @Test func amountsAreReadAsERPsWriteThem() {
        let m = Self.mapping
        func read(_ text: String, _ exponent: Int = 2) -> Int64? { m.minorUnits(Array(text.utf8)[...], exponent: exponent) }
        #expect(read("1,234.50") == 123_450)
        #expect(read("1234.5") == 123_450)
        #expect(read("-12.00") == 1200 && read("(12.00)") == 1200)
        #expect(read("$1,000") == 100_000 && read("€ 9.99") == 999)
        #expect(read("12.500") == 1250, "a trailing zero past the currency's decimals is fine")
        #expect(read("12.345") == nil, "a real third decimal is not")
        #expect(read("1,500", 0) == 1500, "JPY")
        #expect(read("abc") == nil && read("") == nil && read("1.2.3") == nil)
        var comma = m
        comma.decimalSeparator = UInt8(ascii: ",")
        #expect(comma.minorUnits(Array("1.234,50".utf8)[...], exponent: 2) == 123_450)
    }

    @Test func aSavedMappingIsReadWithErrorsNamingTheField() throws {
        let good: JSONValue = ["name": "bc", "columns": ["key": "External Document No.", "amount": "Amount", "currency": "Currency Code"],
                               "key_format": "uuid_compact", "posted": ["Open"]]
        let mapping = try ERPColumnMapping.parse(good, name: "x")
        #expect(mapping.name == "bc" && mapping.compactKeys && mapping.posted == ["open"])
        #expect(throws: Refusal.self) { try ERPColumnMapping.parse(["columns": ["amount": "A", "currency": "C"]], name: "x") }
        do {
            _ = try ERPColumnMapping.parse(["columns": ["key": "K", "amount": "A", "currency": "C", "colour": "X"], "types": ["CM": "credit"]], name: "x")
        } catch let refusal as Refusal {
            #expect(Set(refusal.errors.map(\.field)) == ["columns.colour", "types.CM"])
        }
    }

    @Test func businessCentralKeysWithoutHyphensAreFound() throws {
        var mapping = Self.mapping
        mapping.compactKeys = true
        mapping.columns = [.key: "External Document No.", .amount: "Amount", .currency: "Currency Code"]
        let compact = Self.id(1).replacingOccurrences(of: "-", with: "")
        var ledger = ReconciliationLedger()
        ledger.append(id: Self.id(1), type: .creditMemo, amountMinor: 2500, currency: Self.usd, status: .delivered,
                      approvedAt: "2026-12-01T10:00:00.000000Z", reference: "PS-CR104001")
        let (rows, _) = try Self.run(try Self.file("External Document No.,Amount,Currency Code\n\(compact),25.00,USD\n"), ledger: ledger, mapping: mapping)
        #expect(rows.map(\.class) == [.matched])
    }
}
