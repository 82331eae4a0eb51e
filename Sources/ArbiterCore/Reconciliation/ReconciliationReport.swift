import Foundation

/// A reconciliation's report, written as it is classified: `reconciliation.csv` with every row,
/// and `reconciliation.json` with the counts, the totals per currency and type on each side with
/// their difference, and every exception. Neither holds a time of its own making, so the same
/// inputs give the same files, byte for byte.
public final class ReconciliationReport {
    public static let csvName = "reconciliation.csv"
    static let placeholder = "\u{0}exceptions\u{0}"
    public static let jsonName = "reconciliation.json"
    public static let columns = ["class", "reason", "action_id", "type", "amount", "currency", "arbiter_status", "approved_at",
                                 "erp_reference", "erp_line", "erp_key", "erp_document", "erp_amount", "erp_currency", "erp_status"]

    let ledger: ReconciliationLedger
    let handle: FileHandle
    private var buffer: [UInt8] = []
    /// The exceptions' canonical JSON, comma-separated (the array's inside), kept in a scratch
    /// file beside the report until the JSON is written: tens of thousands of exceptions are not
    /// held in memory.
    private let exceptionsURL: URL
    private let exceptionsFile: FileHandle
    private var exceptions: [UInt8] = []
    private var exceptionCount = 0
    public private(set) var rows = 0

    /// Starts `reconciliation.csv` in `directory`.
    public init(ledger: ReconciliationLedger, directory: URL) throws {
        self.ledger = ledger
        let url = directory.appendingPathComponent(Self.csvName)
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw Refusal.invalid("out", "cannot write \(url.path)")
        }
        handle = try FileHandle(forWritingTo: url)
        exceptionsURL = directory.appendingPathComponent(".exceptions.part")
        guard FileManager.default.createFile(atPath: exceptionsURL.path, contents: nil) else {
            throw Refusal.invalid("out", "cannot write \(exceptionsURL.path)")
        }
        exceptionsFile = try FileHandle(forUpdating: exceptionsURL)
        buffer.reserveCapacity(1 << 20)
        for (i, column) in Self.columns.enumerated() {
            if i > 0 { CSV.separator(into: &buffer) }
            CSV.writeText(column, into: &buffer)
        }
        CSV.endRecord(into: &buffer)
    }

    /// Writes a row (and keeps it for the JSON when it is an exception). Arbiter's side is
    /// written from the ledger's bytes: a million rows make no million strings.
    public func add(_ row: Reconciler.Row) throws {
        rows += 1
        CSV.writeText(row.class.rawValue, into: &buffer)
        CSV.separator(into: &buffer)
        CSV.writeText(row.reason, into: &buffer)
        if let i = row.action {
            let currency = ledger.currency(i)
            CSV.separator(into: &buffer)
            CSV.writeText(bytes: ledger.ids[i], into: &buffer)
            CSV.separator(into: &buffer)
            buffer.append(contentsOf: ledger.types[i].rawValue.utf8)
            CSV.separator(into: &buffer)
            Money.format(ledger.amounts[i], exponent: currency.exponent, into: &buffer)
            CSV.separator(into: &buffer)
            buffer.append(contentsOf: currency.code.utf8)
            CSV.separator(into: &buffer)
            buffer.append(contentsOf: ledger.statuses[i].name.utf8)
            CSV.separator(into: &buffer)
            CSV.writeText(bytes: ledger.approved[i], into: &buffer)
            CSV.separator(into: &buffer)
            CSV.writeText(bytes: ledger.references[i], into: &buffer)
        } else {
            buffer.append(contentsOf: Array(repeating: UInt8(ascii: ","), count: 7))
        }
        if let erp = row.erp {
            for cell in [String(erp.line), erp.key, erp.document] {
                CSV.separator(into: &buffer)
                CSV.writeText(cell, into: &buffer)
            }
            CSV.separator(into: &buffer)
            // The amount as read, in the currency's decimals (the action's currency, when it is the
            // same, is not looked up again); as written when it could not be read.
            let actionCurrency = row.action.map(ledger.currency)
            if let minor = erp.amountMinor,
               let currency = actionCurrency?.code == erp.currency ? actionCurrency : Currency(erp.currency) {
                Money.format(minor, exponent: currency.exponent, into: &buffer)
            } else {
                CSV.writeText(erp.amountText, into: &buffer)
            }
            for cell in [erp.currency, erp.status] {
                CSV.separator(into: &buffer)
                CSV.writeText(cell, into: &buffer)
            }
        } else {
            buffer.append(contentsOf: Array(repeating: UInt8(ascii: ","), count: 6))
        }
        CSV.endRecord(into: &buffer)
        if buffer.count >= 1 << 20 { try flush() }
        if row.class.isException { addException(row) }
    }

    /// An exception as the JSON lists it, encoded at once (a few hundred bytes each).
    private func addException(_ row: Reconciler.Row) {
        var fields: [String: JSONValue] = ["class": .string(row.class.rawValue), "reason": .string(row.reason)]
        if let i = row.action {
            fields["action_id"] = .string(ledger.id(i))
            fields["type"] = .string(ledger.types[i].rawValue)
            fields["amount_minor"] = .int(ledger.amounts[i])
            fields["currency"] = .string(ledger.currency(i).code)
            fields["arbiter_status"] = .string(ledger.statuses[i].name)
            fields["approved_at"] = .string(ledger.approved.string(i))
            let reference = ledger.references.string(i)
            fields["erp_reference"] = reference.isEmpty ? .null : .string(reference)
        }
        if let erp = row.erp {
            fields["erp"] = .object(["line": .int(Int64(erp.line)), "key": .string(erp.key), "document": .string(erp.document),
                                     "amount": .string(erp.amountText), "amount_minor": erp.amountMinor.map(JSONValue.int) ?? .null,
                                     "currency": .string(erp.currency), "status": .string(erp.status), "date": .string(erp.date)])
        }
        if exceptionCount > 0 { exceptions.append(UInt8(ascii: ",")) }
        exceptions.append(contentsOf: CanonicalJSON.encode(.object(fields)))
        exceptionCount += 1
        if exceptions.count >= 1 << 20 { try? flushExceptions() }
    }

    private func flushExceptions() throws {
        try exceptionsFile.write(contentsOf: exceptions)
        exceptions.removeAll(keepingCapacity: true)
    }

    private func flush() throws {
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Ends the CSV (fsynced) and writes the JSON; the JSON's value (its exceptions left out).
    @discardableResult
    public func finish(_ summary: Reconciler.Summary, mapping: ERPColumnMapping, from: String, to: String, staleBefore: String,
                       directory: URL) throws -> JSONValue {
        try flush()
        try handle.synchronize()
        try handle.close()
        let json: JSONValue = .object([
            "mapping": .string(mapping.name), "from": .string(from), "to": .string(to), "stale_before": .string(staleBefore),
            "arbiter_rows": .int(Int64(summary.arbiterRows)), "erp_rows": .int(Int64(summary.erpRows)), "rows": .int(Int64(rows)),
            "counts": .object(Dictionary(uniqueKeysWithValues: summary.counts.map { ($0.key.rawValue, .int(Int64($0.value))) })),
            "exceptions_total": .int(Int64(exceptionCount)),
            "totals": .array(summary.totals.map { total in
                .object(["currency": .string(total.currency), "type": .string(total.type),
                         "arbiter_minor": .int(total.arbiterMinor), "arbiter_count": .int(Int64(total.arbiterCount)),
                         "erp_minor": .int(total.erpMinor), "erp_count": .int(Int64(total.erpCount)),
                         "difference_minor": .int(total.erpMinor - total.arbiterMinor)])
            }),
            "exceptions": .string(Self.placeholder),
        ])
        // The exceptions, encoded as they came, take the placeholder's place: the same bytes
        // as encoding the whole value, without holding every exception as a value.
        try flushExceptions()
        let encoded = CanonicalJSON.encode(json)
        let marker = CanonicalJSON.encode(.string(Self.placeholder))
        guard let at = encoded.firstRange(of: marker) else { throw Refusal.conflict("the report's placeholder is missing") }
        let url = directory.appendingPathComponent(Self.jsonName)
        let partial = directory.appendingPathComponent(".\(Self.jsonName).part")
        guard FileManager.default.createFile(atPath: partial.path, contents: nil) else { throw Refusal.invalid("out", "cannot write \(partial.path)") }
        let out = try FileHandle(forWritingTo: partial)
        try out.write(contentsOf: encoded[..<at.lowerBound] + [UInt8(ascii: "[")])
        try exceptionsFile.seek(toOffset: 0)
        while let chunk = try exceptionsFile.read(upToCount: 1 << 20), !chunk.isEmpty { try out.write(contentsOf: chunk) }
        try out.write(contentsOf: [UInt8(ascii: "]")] + encoded[at.upperBound...])
        try out.synchronize()
        try out.close()
        try exceptionsFile.close()
        try FileManager.default.removeItem(at: exceptionsURL)
        // Renamed into place: a reader never sees half a report.
        guard rename(partial.path, url.path) == 0 else {
            throw Refusal.invalid("out", "cannot write \(url.path): \(String(cString: strerror(errno)))")
        }
        return json
    }
}
