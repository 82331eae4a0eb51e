import Foundation

/// Canonical JSON: the one byte sequence Arbiter hashes and signs, reproducible in any language.
///
/// The rules:
/// - UTF-8, no insignificant white space (`,` and `:` separators only).
/// - Object keys sorted by Unicode code point (equivalently, by their UTF-8 bytes).
/// - Strings: `"` and `\` are escaped as `\"` and `\\`; U+0008, U+0009, U+000A, U+000C and
///   U+000D as `\b`, `\t`, `\n`, `\f`, `\r`; every other character below U+0020 as `\u00XX`
///   with lower-case hex digits; everything else, non-ASCII included, as itself.
/// - Integers in decimal without exponent or leading zeros. Arbiter never puts non-integral
///   numbers in hashed data; if one appears it is written in the shortest form that
///   round-trips.
/// - `true`, `false`, `null` as themselves.
///
/// These are exactly the bytes of Python's
/// `json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()`
/// for such data, which is how an auditor can recompute hashes independently.
public enum CanonicalJSON {
    public static func encode(_ value: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(value, into: &out)
        return out
    }

    public static func string(_ value: JSONValue) -> String {
        String(decoding: encode(value), as: UTF8.self)
    }

    /// An object from members whose values are already canonical JSON: the keys are sorted
    /// here, so the result is canonical too. Lets a value encoded once (a decision's actions,
    /// say) be spliced into several documents without encoding it again.
    public static func object(_ members: [(key: String, json: [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(members.reduce(2) { $0 + $1.key.utf8.count + $1.json.count + 4 })
        out.append(UInt8(ascii: "{"))
        for (i, member) in members.sorted(by: { precedes($0.key, $1.key) }).enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            writeString(member.key, into: &out)
            out.append(UInt8(ascii: ":"))
            out.append(contentsOf: member.json)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    public static func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): writeInteger(i, into: &out)
        case .double(let d):
            if d.rounded() == d, abs(d) < 9_007_199_254_740_992 {
                writeInteger(Int64(d), into: &out)
                out.append(contentsOf: ".0".utf8)
            } else {
                out.append(contentsOf: String(d).utf8)
            }
        case .string(let s): writeString(s, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(item, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let fields):
            out.append(UInt8(ascii: "{"))
            // Sort the keys alone (cheap to move), then look each value up.
            var keys = Array(fields.keys)
            if keys.count > 1 { keys.sort(by: precedes) }
            for (i, key) in keys.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                write(fields[key].unsafelyUnwrapped, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Code-point order is UTF-8 byte order.
    static func precedes(_ a: String, _ b: String) -> Bool {
        var a = a, b = b
        return a.withUTF8 { x in
            b.withUTF8 { y in
                let n = min(x.count, y.count)
                if n > 0, let xs = x.baseAddress, let ys = y.baseAddress {
                    let c = memcmp(xs, ys, n)
                    if c != 0 { return c < 0 }
                }
                return x.count < y.count
            }
        }
    }

    public static func writeInteger(_ value: Int64, into out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)   // 24 bytes: room for 20 digits
        withUnsafeMutableBytes(of: &digits) { buffer in
            var end = buffer.count
            repeat {
                end -= 1
                buffer[end] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            out.append(contentsOf: buffer[end...])
        }
    }

    public static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { bytes in
            // Copy runs that need no escaping in one go; most strings are one run.
            var start = 0
            for i in 0..<bytes.count {
                let byte = bytes[i]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i]))
                start = i + 1
                switch byte {
                case UInt8(ascii: "\""): out.append(contentsOf: "\\\"".utf8)
                case UInt8(ascii: "\\"): out.append(contentsOf: "\\\\".utf8)
                case 0x08: out.append(contentsOf: "\\b".utf8)
                case 0x09: out.append(contentsOf: "\\t".utf8)
                case 0x0A: out.append(contentsOf: "\\n".utf8)
                case 0x0C: out.append(contentsOf: "\\f".utf8)
                case 0x0D: out.append(contentsOf: "\\r".utf8)
                default:
                    let hex: StaticString = "0123456789abcdef"
                    out.append(contentsOf: "\\u00".utf8)
                    out.append(hex.utf8Start[Int(byte >> 4)])
                    out.append(hex.utf8Start[Int(byte & 0xF)])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...]))
        }
        out.append(UInt8(ascii: "\""))
    }
}
