import ArbiterCore
import Glibc

/// Writes JSON text straight into the sandbox's input format, without building Swift values:
/// what lets a backtest feed hundreds of thousands of stored events and contexts to Lua.
///
/// It produces what ``ValueWriter/write(_:)-(JSONValue)`` produces for the parsed value
/// (numbers without a fraction or exponent that fit 64 bits are integers, others doubles),
/// except that with `dropNullMembers` object members whose value is null are left out — as
/// the typed context writer leaves out absent optional fields, so policies see plain nil.
struct JSONTranscoder {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    let dropNullMembers: Bool
    /// The string value of `captureKey` inside the top-level member `captureParent`.
    let captureParent: StaticString?
    let captureKey: StaticString?
    private(set) var captured: String?
    private var depth = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>, dropNullMembers: Bool, capture: (parent: StaticString, key: StaticString)? = nil) {
        self.bytes = bytes
        self.dropNullMembers = dropNullMembers
        captureParent = capture?.parent
        captureKey = capture?.key
    }

    struct Malformed: Error, CustomStringConvertible {
        let offset: Int
        var description: String { "malformed stored JSON at byte \(offset)" }
    }

    mutating func document(into writer: inout ValueWriter) throws {
        try value(into: &writer, path: nil)
        skipWhitespace()
        guard index == bytes.count else { throw Malformed(offset: index) }
    }

    private mutating func skipWhitespace() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
            index += 1
        }
    }

    /// `path`: whether this value sits in the capture parent (1) or is the captured key (2).
    private mutating func value(into writer: inout ValueWriter, path: Int?) throws {
        skipWhitespace()
        guard index < bytes.count else { throw Malformed(offset: index) }
        switch bytes[index] {
        case UInt8(ascii: "{"): try object(into: &writer, inParent: path == 1)
        case UInt8(ascii: "["):
            index += 1
            writer.byte(UInt8(ascii: "a"))
            let countAt = writer.count
            writer.writeCount(0)
            var count = 0
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
            } else {
                while true {
                    try value(into: &writer, path: nil)
                    count += 1
                    skipWhitespace()
                    guard index < bytes.count else { throw Malformed(offset: index) }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    guard bytes[index] == UInt8(ascii: "]") else { throw Malformed(offset: index) }
                    index += 1
                    break
                }
            }
            writer.patchCount(count, at: countAt)
        case UInt8(ascii: "\""):
            writer.byte(UInt8(ascii: "s"))
            try string(into: &writer, capture: path == 2)
        case UInt8(ascii: "t"): try literal("true"); writer.byte(UInt8(ascii: "t"))
        case UInt8(ascii: "f"): try literal("false"); writer.byte(UInt8(ascii: "f"))
        case UInt8(ascii: "n"): try literal("null"); writer.byte(UInt8(ascii: "n"))
        default: try number(into: &writer)
        }
    }

    private mutating func object(into writer: inout ValueWriter, inParent: Bool) throws {
        index += 1
        depth += 1
        defer { depth -= 1 }
        writer.byte(UInt8(ascii: "o"))
        let countAt = writer.count
        writer.writeCount(0)
        var count = 0
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            writer.patchCount(0, at: countAt)
            return
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw Malformed(offset: index) }
            let keyStart = index + 1
            let keyAt = writer.count
            try string(into: &writer, capture: false)
            let key = UnsafeBufferPointer(rebasing: bytes[keyStart..<(index - 1)])
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw Malformed(offset: index) }
            index += 1
            skipWhitespace()
            if dropNullMembers, index + 4 <= bytes.count, bytes[index] == UInt8(ascii: "n") {
                try literal("null")
                writer.truncate(to: keyAt)
            } else {
                var path: Int?
                if let parent = captureParent, depth == 1, Self.equal(key, parent) { path = 1 }
                if inParent, let wanted = captureKey, Self.equal(key, wanted) { path = 2 }
                let start = writer.beginValue()
                try value(into: &writer, path: path)
                writer.endValue(start)
                count += 1
            }
            skipWhitespace()
            guard index < bytes.count else { throw Malformed(offset: index) }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            guard bytes[index] == UInt8(ascii: "}") else { throw Malformed(offset: index) }
            index += 1
            break
        }
        writer.patchCount(count, at: countAt)
    }

    private mutating func literal(_ word: StaticString) throws {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw Malformed(offset: index) }
        for i in 0..<count where bytes[index + i] != word.utf8Start[i] { throw Malformed(offset: index) }
        index += count
    }

    /// Writes the string at `index` length-prefixed (its raw bytes when it has no escapes).
    private mutating func string(into writer: inout ValueWriter, capture: Bool) throws {
        index += 1
        let start = index
        // The closing quote, found with memchr; the string is raw bytes unless a backslash
        // comes before it.
        guard let base = bytes.baseAddress, start < bytes.count,
              let quote = memchr(base + start, Int32(UInt8(ascii: "\"")), bytes.count - start) else { throw Malformed(offset: index) }
        let close = base.distance(to: quote.assumingMemoryBound(to: UInt8.self))
        if memchr(base + start, Int32(UInt8(ascii: "\\")), close - start) == nil {
            let raw = UnsafeBufferPointer(rebasing: bytes[start..<close])
            index = close + 1
            writer.lengthPrefixed(bytes: raw)
            if capture { captured = String(decoding: raw, as: UTF8.self) }
            return
        }
        // Escapes (rare in stored events): let the full parser read this one string.
        var end = start
        while end < bytes.count, bytes[end] != UInt8(ascii: "\"") { end += bytes[end] == UInt8(ascii: "\\") ? 2 : 1 }
        guard end < bytes.count, case .string(let text) = try JSONValue.parse(UnsafeBufferPointer(rebasing: bytes[(start - 1)...end])) else {
            throw Malformed(offset: index)
        }
        index = end + 1
        writer.lengthPrefixed(text)
        if capture { captured = text }
    }

    private static func equal(_ bytes: UnsafeBufferPointer<UInt8>, _ word: StaticString) -> Bool {
        guard bytes.count == word.utf8CodeUnitCount else { return false }
        for i in 0..<bytes.count where bytes[i] != word.utf8Start[i] { return false }
        return true
    }

    private mutating func number(into writer: inout ValueWriter) throws {
        let start = index
        var integral = true
        while index < bytes.count, Self.numberByte(bytes[index]) {
            if bytes[index] == UInt8(ascii: ".") || bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") { integral = false }
            index += 1
        }
        guard index > start else { throw Malformed(offset: index) }
        if integral, index - start <= 18 {
            // Up to 18 digits cannot overflow: read them without making a string.
            var value: Int64 = 0
            var i = start
            let negative = bytes[i] == UInt8(ascii: "-")
            if negative { i += 1 }
            var digits = 0
            while i < index, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
                value = value * 10 + Int64(bytes[i] - UInt8(ascii: "0"))
                i += 1
                digits += 1
            }
            guard i == index, digits > 0 else { throw Malformed(offset: start) }
            writer.writeInt(negative ? -value : value)
            return
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        if integral, let value = Int64(text) {
            writer.writeInt(value)
        } else if let value = Double(text) {
            if let exact = JSONValue.exactInteger(value) { writer.writeInt(exact) } else { writer.write(.double(value)) }
        } else {
            throw Malformed(offset: start)
        }
    }

    private static func numberByte(_ b: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: "+")
            || b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E")
    }
}
