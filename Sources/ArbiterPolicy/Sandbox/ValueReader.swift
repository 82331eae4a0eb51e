import ArbiterCore

/// Reads the sandbox's output buffer. Any inconsistency reads as `nil`.
struct ValueReader {
    let base: UnsafeRawBufferPointer
    var offset = 0

    init(_ base: UnsafeRawBufferPointer) { self.base = base }

    var atEnd: Bool { offset >= base.count }

    mutating func u8() -> UInt8? {
        guard offset + 1 <= base.count else { return nil }
        defer { offset += 1 }
        return base[offset]
    }

    mutating func u32() -> Int? {
        guard offset + 4 <= base.count else { return nil }
        defer { offset += 4 }
        return Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
    }

    mutating func i64() -> Int64? {
        guard offset + 8 <= base.count else { return nil }
        defer { offset += 8 }
        return Int64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: Int64.self))
    }

    /// A length-prefixed string (invalid UTF-8 is repaired with U+FFFD).
    mutating func string() -> String? {
        guard let n = u32(), offset + n <= base.count else { return nil }
        defer { offset += n }
        return String(decoding: UnsafeRawBufferPointer(rebasing: base[offset..<offset + n]), as: UTF8.self)
    }

    mutating func strings() -> [String]? {
        guard let n = u32() else { return nil }
        var out: [String] = []
        out.reserveCapacity(n)
        for _ in 0..<n {
            guard let s = string() else { return nil }
            out.append(s)
        }
        return out
    }

    mutating func value() -> JSONValue? {
        guard let tag = u8() else { return nil }
        switch tag {
        case UInt8(ascii: "n"): return .null
        case UInt8(ascii: "f"): return .bool(false)
        case UInt8(ascii: "t"): return .bool(true)
        case UInt8(ascii: "i"): return i64().map(JSONValue.int)
        case UInt8(ascii: "d"): return i64().map { .double(Double(bitPattern: UInt64(bitPattern: $0))) }
        case UInt8(ascii: "s"): return string().map(JSONValue.string)
        case UInt8(ascii: "a"):
            guard let n = u32() else { return nil }
            var items: [JSONValue] = []
            items.reserveCapacity(n)
            for _ in 0..<n {
                guard let v = value() else { return nil }
                items.append(v)
            }
            return .array(items)
        case UInt8(ascii: "o"):
            guard let n = u32() else { return nil }
            var fields: [String: JSONValue] = [:]
            fields.reserveCapacity(n)
            for _ in 0..<n {
                guard let k = string(), let v = value() else { return nil }
                fields[k] = v
            }
            return .object(fields)
        default:
            return nil
        }
    }
}
