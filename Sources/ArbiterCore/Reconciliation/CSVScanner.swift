import Foundation

/// Reads a CSV file record by record without holding it: what spreadsheets and ERPs write —
/// RFC 4180 quoting (commas, quotes and line breaks inside quotes, quotes doubled), CRLF or LF,
/// a UTF-8 byte-order mark, a last record without a line break, blank lines skipped. Each record
/// is handed over as byte ranges into a buffer that is reused: copy what must be kept.
public struct CSVScanner {
    /// One record: its fields' bytes (quotes removed, doubled quotes undone).
    public struct Record {
        public internal(set) var bytes: [UInt8] = []
        public internal(set) var fields: [Range<Int>] = []
        /// The record's line in the file (1 for the first).
        public internal(set) var line = 0

        public var count: Int { fields.count }

        public subscript(_ index: Int) -> ArraySlice<UInt8> {
            index < fields.count ? bytes[fields[index]] : []
        }

        public func string(_ index: Int) -> String {
            String(decoding: self[index], as: UTF8.self)
        }
    }

    public struct Malformed: Error, CustomStringConvertible {
        public let description: String
    }

    let handle: FileHandle
    private var buffer: [UInt8] = []
    private var position = 0
    private var atEnd = false
    private var line = 1
    private var first = true
    static let chunk = 1 << 20

    public init(url: URL) throws {
        handle = try FileHandle(forReadingFrom: url)
    }

    /// Fills `record` with the next one; false at the end of the file.
    public mutating func next(into record: inout Record) throws -> Bool {
        record.bytes.removeAll(keepingCapacity: true)
        record.fields.removeAll(keepingCapacity: true)
        while true {
            guard let byte = try peek() else { return false }
            // Blank lines between records are skipped.
            if byte == 0x0A { position += 1; line += 1; continue }
            if byte == 0x0D { position += 1; continue }
            break
        }
        record.line = line
        var fieldStart = 0
        var quoted = false
        var inQuotes = false
        while true {
            guard let byte = try peek() else {
                if inQuotes { throw Malformed(description: "line \(record.line): a quoted field is not closed before the end of the file") }
                record.fields.append(fieldStart..<record.bytes.count)
                return true
            }
            position += 1
            if inQuotes {
                if byte == 0x22 {
                    if try peek() == 0x22 {
                        position += 1
                        record.bytes.append(0x22)
                    } else {
                        inQuotes = false
                    }
                } else {
                    if byte == 0x0A { line += 1 }
                    record.bytes.append(byte)
                }
                continue
            }
            switch byte {
            case 0x2C:
                record.fields.append(fieldStart..<record.bytes.count)
                fieldStart = record.bytes.count
                quoted = false
            case 0x22 where record.bytes.count == fieldStart && !quoted:
                inQuotes = true
                quoted = true
            case 0x0D:
                if try peek() == 0x0A { position += 1 }
                line += 1
                record.fields.append(fieldStart..<record.bytes.count)
                return true
            case 0x0A:
                line += 1
                record.fields.append(fieldStart..<record.bytes.count)
                return true
            default:
                record.bytes.append(byte)
            }
        }
    }

    /// The next byte, reading on when the buffer is used up; the byte-order mark is skipped.
    private mutating func peek() throws -> UInt8? {
        if position == buffer.count {
            guard !atEnd else { return nil }
            let data = try handle.read(upToCount: Self.chunk) ?? Data()
            if data.isEmpty { atEnd = true; return nil }
            buffer.removeAll(keepingCapacity: true)
            buffer.append(contentsOf: data)
            position = 0
            if first {
                first = false
                if buffer.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 }
                if position == buffer.count { return try peek() }
            }
        }
        return buffer[position]
    }
}
