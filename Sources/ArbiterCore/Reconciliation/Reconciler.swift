import Foundation

/// Reconciles Arbiter's money actions (``ReconciliationLedger``) with an ERP's export (a CSV read
/// through an ``ERPColumnMapping``), streaming the file once. Every row is classified:
///
/// | class | meaning |
/// |---|---|
/// | `matched` | in both, same amount and currency, posted in the ERP, delivered in Arbiter |
/// | `missing_in_erp` | approved in Arbiter, absent in the ERP: delivered but absent, or a dead letter never delivered |
/// | `unexpected_in_erp` | in the ERP under a key Arbiter never issued, without a key, or of an action cancelled in Arbiter |
/// | `amount_mismatch` | in both, the amount or the currency differs (or the ERP's amount cannot be read) |
/// | `status_mismatch` | in both, not posted in the ERP (a draft, voided), or posted while Arbiter has it undelivered |
/// | `duplicate` | the key is in the ERP more than once (the action and each of its rows) |
/// | `stale` | approved, not delivered, and older than the stale age; absent in the ERP |
/// | `pending` | approved, not delivered yet, younger than the stale age: not an exception |
///
/// Cancelled actions absent from the ERP are left out (never to be posted). The order of the
/// rows is Arbiter's (the ledger's), then the ERP's other rows by key, document and line: the same
/// inputs give the same report, byte for byte, whatever order the ERP wrote its rows in.
public enum Reconciler {
    public enum Class: String, Sendable, CaseIterable, Comparable {
        case matched
        case missingInERP = "missing_in_erp"
        case unexpectedInERP = "unexpected_in_erp"
        case amountMismatch = "amount_mismatch"
        case statusMismatch = "status_mismatch"
        case duplicate
        case stale
        case pending

        public var isException: Bool { self != .matched && self != .pending }

        public static func < (a: Class, b: Class) -> Bool { a.rawValue < b.rawValue }
    }

    /// One ERP row as the report needs it.
    public struct ERPRow: Sendable {
        public var line: Int
        public var key: String
        public var document: String
        /// Nil when the amount or the currency cannot be read.
        public var amountMinor: Int64?
        public var currency: String
        public var amountText: String
        public var status: String
        public var type: ActionType?
        public var date: String
    }

    /// One classified row of the report.
    public struct Row: Sendable {
        public var `class`: Class
        public var reason: String
        /// The action's position in the ledger, when the row is one of Arbiter's.
        public var action: Int?
        public var erp: ERPRow?
    }

    public struct Options: Sendable {
        /// An undelivered action approved before this (RFC 3339, as stored) is stale.
        public var staleBefore: String

        public init(staleBefore: String) {
            self.staleBefore = staleBefore
        }
    }

    /// Sums per currency and action type on each side.
    public struct Total: Sendable, Hashable {
        public var currency: String
        public var type: String
        public var arbiterMinor: Int64 = 0
        public var erpMinor: Int64 = 0
        public var arbiterCount = 0
        public var erpCount = 0
    }

    /// What a run found: counts per class, totals, and the rows in report order (handed to
    /// `emit` one at a time, never all held).
    public struct Summary: Sendable {
        public var counts: [Class: Int] = Dictionary(uniqueKeysWithValues: Class.allCases.map { ($0, 0) })
        public var totals: [Total] = []
        public var arbiterRows = 0
        public var erpRows = 0
    }

    /// The ERP's rows under Arbiter's keys, column by column (a million rows in tens of
    /// megabytes): the line and the document, status and date texts. A row whose amount and
    /// currency are the action's keeps nothing more (they are the ledger's); any other keeps
    /// them aside.
    struct ERPRowStore {
        var lines: [Int32] = []
        var texts = ReconciliationLedger.Texts()
        var differing: [Int: (amount: Int64?, currency: String, amountText: String)] = [:]
        static let textsPerRow = 3

        mutating func append(line: Int, document: ArraySlice<UInt8>, status: ArraySlice<UInt8>, date: ArraySlice<UInt8>,
                             differing values: (amount: Int64?, currency: String, amountText: String)?) {
            if let values { differing[lines.count] = values }
            lines.append(Int32(line))
            texts.append(document)
            texts.append(status)
            texts.append(date)
        }

        /// Row `r`, the first under action `i`'s key.
        func row(_ r: Int, ledger: ReconciliationLedger, action i: Int, key: String) -> ERPRow {
            let base = r * Self.textsPerRow
            let currency = ledger.currency(i)
            let values = differing[r] ?? (ledger.amounts[i], currency.code, Money.format(ledger.amounts[i], exponent: currency.exponent))
            return ERPRow(line: Int(lines[r]), key: key, document: texts.string(base), amountMinor: values.amount, currency: values.currency,
                          amountText: values.amountText, status: texts.string(base + 1), type: ledger.types[i], date: texts.string(base + 2))
        }
    }

    /// Runs a reconciliation; `emit` gets every row in report order.
    public static func run(ledger: ReconciliationLedger, erpFile: URL, mapping: ERPColumnMapping, options: Options,
                           emit: (Row) throws -> Void) throws -> Summary {
        var scanner = try CSVScanner(url: erpFile)
        var record = CSVScanner.Record()
        guard try scanner.next(into: &record) else {
            throw Refusal.invalid("erp_file", "the ERP's file is empty: it has no header row (mapping \(mapping.name) needs \(mapping.columns.values.sorted().joined(separator: ", ")))")
        }
        let positions = try mapping.positions(in: (0..<record.count).map(record.string))
        let keyColumn = positions[.key] ?? 0, amountColumn = positions[.amount] ?? 0, currencyColumn = positions[.currency] ?? 0
        let typeColumn = positions[.type], documentColumn = positions[.document], statusColumn = positions[.status]
        let dateColumn = positions[.date]
        // The written types, lower-cased, as bytes: compared without making strings.
        let typeNames = mapping.types.map { (Array($0.key.utf8), $0.value) }
        var summary = Summary()

        var first = [Int32](repeating: -1, count: ledger.count)
        var seen = [UInt8](repeating: 0, count: ledger.count)
        var store = ERPRowStore()
        store.lines.reserveCapacity(ledger.count)
        store.texts.ends.reserveCapacity(ledger.count * ERPRowStore.textsPerRow)
        store.texts.bytes.reserveCapacity(ledger.count * 24)
        var extraRows: [(action: Int, row: ERPRow)] = []
        var otherRows: [ERPRow] = []
        // ERP totals by currency code (3 letters packed) and type (its index, or 255 unknown, 254 no type column).
        var erpTotals: [Int: (minor: Int64, count: Int, currency: String, type: String)] = [:]
        var compact: [UInt8] = []
        var currencyCache: [Int: Currency] = [:]
        while try scanner.next(into: &record) {
            summary.erpRows += 1
            let currencyBytes = trimmed(record[currencyColumn])
            let packed = currencyBytes.reduce(0) { ($0 << 8) | Int($1 & 0xDF) }   // upper-cased ASCII
            var currency = currencyCache[packed]
            if currency == nil, currencyBytes.count == 3 {
                currency = Currency(String(decoding: currencyBytes, as: UTF8.self).uppercased())
                if let currency { currencyCache[packed] = currency }
            }
            let amount = currency.flatMap { mapping.minorUnits(record[amountColumn], exponent: $0.exponent) }
            var type: ActionType?
            var typeCode = 254
            if let typeColumn {
                let written = trimmed(record[typeColumn])
                typeCode = 255
                for (index, (name, mapped)) in typeNames.enumerated() where equalsLowercased(written, name) {
                    type = mapped
                    typeCode = index
                    break
                }
            }
            if let amount {
                let slot = packed << 8 | typeCode
                if erpTotals[slot] == nil {
                    let typeName = type?.rawValue ?? (typeCode == 254 ? "any"
                        : typeColumn.map { String(decoding: trimmed(record[$0]), as: UTF8.self).lowercased() }.map { $0.isEmpty ? "unknown" : $0 } ?? "any")
                    erpTotals[slot] = (0, 0, currency?.code ?? String(decoding: currencyBytes, as: UTF8.self).uppercased(), typeName)
                }
                erpTotals[slot]!.minor += amount
                erpTotals[slot]!.count += 1
            }
            // Keys written without hyphens (Business Central) are looked up with them.
            var key = trimmed(record[keyColumn])
            if mapping.compactKeys, key.count == 32 {
                compact.removeAll(keepingCapacity: true)
                for (i, byte) in key.enumerated() {
                    if i == 8 || i == 12 || i == 16 || i == 20 { compact.append(UInt8(ascii: "-")) }
                    compact.append(byte)
                }
                key = compact[...]
            }
            func materialized() -> ERPRow {
                ERPRow(line: record.line, key: String(decoding: trimmed(record[keyColumn]), as: UTF8.self),
                       document: documentColumn.map { String(decoding: trimmed(record[$0]), as: UTF8.self) } ?? "",
                       amountMinor: amount, currency: String(decoding: currencyBytes, as: UTF8.self).uppercased(),
                       amountText: record.string(amountColumn), status: statusColumn.map { String(decoding: trimmed(record[$0]), as: UTF8.self) } ?? "",
                       type: type, date: dateColumn.map { String(decoding: trimmed(record[$0]), as: UTF8.self) } ?? "")
            }
            guard !key.isEmpty, let action = ledger.find(key) else {
                otherRows.append(materialized())
                continue
            }
            if seen[action] == 0 {
                first[action] = Int32(store.lines.count)
                let same = currency == ledger.currency(action) && amount.map { abs($0) == ledger.amounts[action] } == true
                store.append(line: record.line, document: documentColumn.map { trimmed(record[$0]) } ?? [],
                             status: statusColumn.map { trimmed(record[$0]) } ?? [], date: dateColumn.map { trimmed(record[$0]) } ?? [],
                             differing: same ? nil : (amount, String(decoding: currencyBytes, as: UTF8.self).uppercased(),
                                                      record.string(amountColumn)))
            } else {
                extraRows.append((action, materialized()))
            }
            if seen[action] < 255 { seen[action] += 1 }
        }
        let extras = Dictionary(grouping: extraRows, by: \.action).mapValues { $0.map(\.row) }
        extraRows = []

        // Arbiter's rows, in the ledger's order.
        var arbiterTotals: [Int: (minor: Int64, count: Int)] = [:]
        for i in 0..<ledger.count {
            let status = ledger.statuses[i]
            if status != .cancelled {
                summary.arbiterRows += 1
                let slot = Int(ledger.currencies[i]) << 8 | Int(ActionType.allCases.firstIndex(of: ledger.types[i]) ?? 0)
                arbiterTotals[slot, default: (0, 0)].minor += ledger.amounts[i]
                arbiterTotals[slot, default: (0, 0)].count += 1
            }
            let erp = first[i] >= 0 ? store.row(Int(first[i]), ledger: ledger, action: i, key: ledger.erpKey(i, compact: mapping.compactKeys)) : nil
            let row = classify(ledger, i, erp: erp, count: Int(seen[i]), mapping: mapping, options: options)
            guard let row else { continue }
            summary.counts[row.class, default: 0] += 1
            try emit(row)
            for extra in extras[i] ?? [] {
                summary.counts[.duplicate, default: 0] += 1
                try emit(Row(class: .duplicate, reason: "key \(extra.key) is in the ERP's file more than once", action: i, erp: extra))
            }
        }
        // The ERP's rows of no action of Arbiter's, in an order the file's does not change.
        otherRows.sort { ($0.key, $0.document, $0.line) < ($1.key, $1.document, $1.line) }
        var index = 0
        while index < otherRows.count {
            var end = index + 1
            while end < otherRows.count, !otherRows[index].key.isEmpty, otherRows[end].key == otherRows[index].key { end += 1 }
            for row in otherRows[index..<end] {
                let reason: String
                let kind: Class
                if row.key.isEmpty {
                    (kind, reason) = (.unexpectedInERP, "the ERP's row has no key")
                } else if end - index > 1 {
                    (kind, reason) = (.duplicate, "key \(row.key) is in the ERP's file \(end - index) times, and Arbiter never issued it")
                } else {
                    (kind, reason) = (.unexpectedInERP, "Arbiter never issued key \(row.key)")
                }
                summary.counts[kind, default: 0] += 1
                try emit(Row(class: kind, reason: reason, action: nil, erp: row))
            }
            index = end
        }
        var totals: [String: Total] = [:]
        for (slot, sum) in arbiterTotals {
            let currency = ledger.currencyTable[slot >> 8].code, type = ActionType.allCases[slot & 0xFF].rawValue
            totals["\(currency)\u{0}\(type)", default: Total(currency: currency, type: type)].arbiterMinor += sum.minor
            totals["\(currency)\u{0}\(type)", default: Total(currency: currency, type: type)].arbiterCount += sum.count
        }
        for sum in erpTotals.values {
            totals["\(sum.currency)\u{0}\(sum.type)", default: Total(currency: sum.currency, type: sum.type)].erpMinor += sum.minor
            totals["\(sum.currency)\u{0}\(sum.type)", default: Total(currency: sum.currency, type: sum.type)].erpCount += sum.count
        }
        summary.totals = totals.values.sorted { ($0.currency, $0.type) < ($1.currency, $1.type) }
        return summary
    }

    /// Bytes without the spaces around them.
    static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var bytes = bytes
        while let first = bytes.first, first == 0x20 || first == 0x09 { bytes = bytes.dropFirst() }
        while let last = bytes.last, last == 0x20 || last == 0x09 { bytes = bytes.dropLast() }
        return bytes
    }

    /// Whether `bytes`, ASCII lower-cased, are `lower`.
    static func equalsLowercased(_ bytes: ArraySlice<UInt8>, _ lower: [UInt8]) -> Bool {
        guard bytes.count == lower.count else { return false }
        for (byte, expected) in zip(bytes, lower) {
            let folded = (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
            if folded != expected { return false }
        }
        return true
    }

    /// The class of one of Arbiter's actions, given the first ERP row under its key and how many
    /// there are; nil for a cancelled action the ERP does not have.
    static func classify(_ ledger: ReconciliationLedger, _ i: Int, erp: ERPRow?, count: Int, mapping: ERPColumnMapping,
                         options: Options) -> Row? {
        let status = ledger.statuses[i]
        func row(_ kind: Class, _ reason: String) -> Row { Row(class: kind, reason: reason, action: i, erp: erp) }
        guard let erp else {
            switch status {
            case .cancelled: return nil
            case .delivered: return row(.missingInERP, "delivered (reference \(ledger.references.string(i))) but absent in the ERP")
            case .dead: return row(.missingInERP, "never delivered: a dead letter")
            case .pending:
                return ledger.approved[i].lexicographicallyPrecedes(options.staleBefore.utf8)
                    ? row(.stale, "approved \(ledger.approved.string(i)) and still not delivered")
                    : row(.pending, "not delivered yet")
            }
        }
        if status == .cancelled { return row(.unexpectedInERP, "cancelled in Arbiter, yet in the ERP") }
        if count > 1 { return row(.duplicate, "key \(erp.key) is in the ERP's file \(count) times") }
        let currency = ledger.currency(i)
        guard let amount = erp.amountMinor else {
            return row(.amountMismatch, Currency(erp.currency) == nil
                       ? "the ERP's currency \"\(erp.currency)\" is not an ISO 4217 code"
                       : "the ERP's amount \"\(erp.amountText)\" cannot be read as \(erp.currency)")
        }
        if erp.currency != currency.code {
            return row(.amountMismatch, "currency \(erp.currency) in the ERP, \(currency.code) approved")
        }
        if abs(amount) != ledger.amounts[i] {
            return row(.amountMismatch, "\(Money.format(amount, exponent: currency.exponent)) \(currency.code) in the ERP, "
                       + "\(Money.format(ledger.amounts[i], exponent: currency.exponent)) approved")
        }
        let erpStatus = erp.status.lowercased()
        if mapping.void.contains(erpStatus) { return row(.statusMismatch, "\(erp.status) in the ERP") }
        if mapping.columns[.status] != nil, !mapping.posted.isEmpty, !mapping.posted.contains(erpStatus) {
            return row(.statusMismatch, "status \"\(erp.status)\" in the ERP is not posted")
        }
        if status != .delivered { return row(.statusMismatch, "posted in the ERP, but \(status.name) in Arbiter") }
        return row(.matched, "")
    }
}
