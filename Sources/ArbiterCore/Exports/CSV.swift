/// CSV as exports write it and `verify-export` reads it: RFC 4180 (fields separated by commas,
/// records ended by CRLF, a field quoted when it holds a comma, a quote, CR or LF, quotes inside
/// doubled), UTF-8, one header record.
///
/// Spreadsheets run a cell that starts with `=`, `+`, `-`, `@`, a tab or CR as a formula, so a
/// submitted value such as `=HYPERLINK(...)` would run on the auditor's machine. Text cells
/// that start with one of those characters — or with `'` — get one `'` in front (the
/// spreadsheet convention for "text"); a reader takes exactly one leading `'` off any text cell
/// that has one. Integers are written as they are.
public enum CSV {
    /// Appends a text cell.
    public static func writeText(_ text: String, into out: inout [UInt8]) {
        writeText(bytes: text.utf8, into: &out)
    }

    /// Appends a text cell given as UTF-8 bytes.
    public static func writeText<Bytes: Collection<UInt8>>(bytes text: Bytes, into out: inout [UInt8]) {
        var needsQuotes = false
        var first = true
        var neutralize = false
        for byte in text {
            if first {
                first = false
                neutralize = [UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "@"), 0x09, 0x0D,
                              UInt8(ascii: "'")].contains(byte)
            }
            if byte == UInt8(ascii: ",") || byte == UInt8(ascii: "\"") || byte == 0x0A || byte == 0x0D { needsQuotes = true }
        }
        if needsQuotes { out.append(UInt8(ascii: "\"")) }
        if neutralize { out.append(UInt8(ascii: "'")) }
        for byte in text {
            if byte == UInt8(ascii: "\"") { out.append(byte) }
            out.append(byte)
        }
        if needsQuotes { out.append(UInt8(ascii: "\"")) }
    }

    /// Appends a record's separator before every cell but the first.
    public static func separator(into out: inout [UInt8]) { out.append(UInt8(ascii: ",")) }

    /// Ends a record.
    public static func endRecord(into out: inout [UInt8]) { out.append(contentsOf: [0x0D, 0x0A]) }

    /// A text cell as read back: one leading `'` taken off (see the type's note).
    public static func text(_ cell: String) -> String {
        cell.hasPrefix("'") ? String(cell.dropFirst()) : cell
    }

    /// Splits CSV bytes into records, fed a block at a time: memory holds one record, however
    /// large the file. Accepts CRLF or LF record ends.
    public struct Reader {
        private var fields: [String] = []
        private var field: [UInt8] = []
        private var quoted = false
        /// Inside quotes, a quote was just seen: either the closing one or the first of a pair.
        private var quoteSeen = false
        /// The field has started (so an empty quoted field is still a field).
        private var started = false
        public private(set) var malformed = false

        public init() {}

        /// Feeds the next block; calls `record` for each complete record.
        public mutating func feed(_ bytes: some Sequence<UInt8>, record: ([String]) throws -> Void) rethrows {
            for byte in bytes {
                if quoted {
                    if quoteSeen {
                        quoteSeen = false
                        if byte == UInt8(ascii: "\"") { field.append(byte); continue }
                        quoted = false  // the closing quote; this byte is read below
                    } else if byte == UInt8(ascii: "\"") {
                        quoteSeen = true
                        continue
                    } else {
                        field.append(byte)
                        continue
                    }
                }
                switch byte {
                case UInt8(ascii: "\""):
                    if field.isEmpty && !started { quoted = true; started = true } else { malformed = true; field.append(byte) }
                case UInt8(ascii: ","):
                    endField()
                case 0x0D:
                    continue
                case 0x0A:
                    endField()
                    try record(fields)
                    fields.removeAll(keepingCapacity: true)
                default:
                    started = true
                    field.append(byte)
                }
            }
        }

        /// Ends the input: a last record without a line end, and whether the file ended inside quotes.
        public mutating func finish(record: ([String]) throws -> Void) rethrows {
            if quoted && !quoteSeen { malformed = true }
            quoted = false
            quoteSeen = false
            if started || !field.isEmpty || !fields.isEmpty {
                endField()
                try record(fields)
                fields.removeAll()
            }
        }

        private mutating func endField() {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            started = false
        }
    }
}

extension CSV {
    /// Appends a JSON value as a cell: text as text, integers as written, null as an empty
    /// cell, booleans as true/false, arrays and objects as their canonical JSON text.
    public static func writeValue(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: break
        case .string(let text): writeText(text, into: &out)
        case .int(let n): CanonicalJSON.writeInteger(n, into: &out)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        default: writeText(String(decoding: CanonicalJSON.encode(value), as: UTF8.self), into: &out)
        }
    }

    /// Appends one record of cells.
    public static func writeRecord(_ cells: [JSONValue], into out: inout [UInt8]) {
        for (index, cell) in cells.enumerated() {
            if index > 0 { separator(into: &out) }
            writeValue(cell, into: &out)
        }
        endRecord(into: &out)
    }
}
