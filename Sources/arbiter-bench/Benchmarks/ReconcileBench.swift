import ArbiterCore
import Foundation
import Glibc

/// `arbiter-bench reconcile [--actions N]`: N money actions (1,000,000 by default) in a ledger as
/// a reconciliation reads them, against an ERP export of about as many rows written as NetSuite
/// writes one (header, quoted amounts with thousands separators, CRLF), with 1 % of each exception
/// class: missing (delivered but absent), never delivered (a dead letter), amount mismatch,
/// status mismatch (voided), duplicate, stale, unexpected. The reconciliation reads the file,
/// classifies every row and writes the report (CSV of every row, JSON of the exceptions). The
/// last line is `reconcile rows_per_s=<int> peak_rss_mb=<int>`: report rows per second of the
/// reconciliation (the ledger and the file made beforehand), and the process's high-water RSS.
struct ReconcileBench {
    let actions: Int

    func run() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("arbiter-reconcile-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let usd = Currency("USD")!, eur = Currency("EUR")!
        var ledger = ReconciliationLedger(capacity: actions)
        let file = directory.appendingPathComponent("erp.csv")
        FileManager.default.createFile(atPath: file.path, contents: nil)
        let out = try FileHandle(forWritingTo: file)
        var buffer: [UInt8] = Array("Document Number,External ID,Type,Date,Currency,Amount,Status\r\n".utf8)
        func row(_ document: String, _ key: String, _ currency: Currency, _ minor: Int64, _ status: String) {
            buffer.append(contentsOf: "\(document),\(key),Credit Memo,2026-12-01,\(currency.code),\"\(Self.grouped(minor))\",\(status)\r\n".utf8)
        }
        let made = Date()
        var erpRows = 0
        for i in 0..<actions {
            let id = String(format: "01a24575-1244-759d-%04x-%012x", (i >> 48) & 0xffff, i)
            let currency = i % 7 == 0 ? eur : usd
            let minor = Int64(1_000 + (i % 5_000) * 37)
            let kind = i % 100
            let status: ReconciliationLedger.Status = kind == 5 ? .dead : kind == 4 ? .pending : .delivered
            ledger.append(id: id, type: .creditMemo, amountMinor: minor, currency: currency, status: status,
                          approvedAt: kind == 4 ? "2026-10-01T10:00:00.000000Z" : "2026-12-01T10:00:00.000000Z",
                          reference: status == .delivered ? "CM\(i)" : nil)
            switch kind {
            case 0, 4, 5: break                                                    // missing, stale, never delivered
            case 1: row("CM\(i)", id, currency, minor + 100, "Open"); erpRows += 1  // amount mismatch
            case 2: row("CM\(i)", id, currency, minor, "Voided"); erpRows += 1      // status mismatch
            case 3: row("CM\(i)", id, currency, minor, "Open"); row("CM\(i)b", id, currency, minor, "Open"); erpRows += 2   // duplicate
            case 6: row("CM\(i)", id, currency, minor, "Open"); row("XX\(i)", "ext-\(i)", currency, minor, "Open"); erpRows += 2  // + unexpected
            default: row("CM\(i)", id, currency, minor, "Open"); erpRows += 1
            }
            if buffer.count > 1 << 20 {
                try out.write(contentsOf: buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        try out.write(contentsOf: buffer)
        try out.close()
        print(String(format: "made %d actions and an ERP file of %d rows (%.0f MB) in %.1f s", actions, erpRows,
                     Double((try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int) ?? 0) / 1_048_576,
                     Date().timeIntervalSince(made)))

        var inputs = rusage()
        getrusage(RUSAGE_SELF.rawValue, &inputs)
        print("rss after making the inputs: \(Int(inputs.ru_maxrss) / 1024) MB")
        let mapping = ERPColumnMapping(name: "netsuite", columns: [.key: "External ID", .document: "Document Number", .amount: "Amount",
                                                                   .currency: "Currency", .status: "Status", .type: "Type", .date: "Date"],
                                       posted: ["open"], void: ["voided"], types: ["credit memo": .creditMemo])
        let report = directory.appendingPathComponent("report")
        try FileManager.default.createDirectory(at: report, withIntermediateDirectories: true)
        let started = Date()
        let writer = try ReconciliationReport(ledger: ledger, directory: report)
        let summary = try Reconciler.run(ledger: ledger, erpFile: file, mapping: mapping,
                                         options: .init(staleBefore: "2026-11-01T00:00:00.000000Z"), emit: writer.add)
        try writer.finish(summary, mapping: mapping, from: "2026-10-01", to: "2026-12-05", staleBefore: "2026-11-01T00:00:00.000000Z",
                          directory: report)
        let seconds = Date().timeIntervalSince(started)
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let counts = Reconciler.Class.allCases.map { "\($0.rawValue)=\(summary.counts[$0] ?? 0)" }.joined(separator: " ")
        print("classified \(writer.rows) rows (\(summary.arbiterRows) Arbiter, \(summary.erpRows) ERP) in \(String(format: "%.2f", seconds)) s: \(counts)")
        print("reconcile rows_per_s=\(Int(Double(writer.rows) / seconds)) peak_rss_mb=\(Int(usage.ru_maxrss) / 1024)")
    }

    /// `123456` minor units as an ERP writes them: `1,234.56`.
    static func grouped(_ minor: Int64) -> String {
        let whole = String(minor / 100)
        var groups: [Substring] = []
        var end = whole.endIndex
        while end > whole.startIndex {
            let start = whole.index(end, offsetBy: -3, limitedBy: whole.startIndex) ?? whole.startIndex
            groups.insert(whole[start..<end], at: 0)
            end = start
        }
        return groups.joined(separator: ",") + "." + String(format: "%02d", minor % 100)
    }
}
