import ArbiterCore

/// Writes values in the sandbox's tagged binary format (see arbiter_sandbox.h).
struct ValueWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 512) { bytes.reserveCapacity(capacity) }

    mutating func write(_ value: JSONValue) {
        switch value {
        case .null: bytes.append(UInt8(ascii: "n"))
        case .bool(let b): bytes.append(b ? UInt8(ascii: "t") : UInt8(ascii: "f"))
        case .int(let i): writeInt(i)
        case .double(let d):
            bytes.append(UInt8(ascii: "d"))
            withUnsafeBytes(of: d.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        case .string(let s): writeString(s)
        case .array(let items):
            bytes.append(UInt8(ascii: "a"))
            writeCount(items.count)
            for item in items { write(item) }
        case .object(let fields):
            beginObject(fields.count)
            for (key, item) in fields {
                writeKey(key)
                write(item)
            }
        }
    }

    mutating func writeInt(_ i: Int64) {
        bytes.append(UInt8(ascii: "i"))
        withUnsafeBytes(of: i.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func writeString(_ s: String) {
        bytes.append(UInt8(ascii: "s"))
        writeKey(s)
    }

    mutating func writeOptionalString(_ s: String?) {
        if let s { writeString(s) } else { bytes.append(UInt8(ascii: "n")) }
    }

    /// Length-prefixed bytes without a tag (object keys).
    mutating func writeKey(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            writeCount(utf8.count)
            bytes.append(contentsOf: utf8)
        }
    }

    mutating func beginObject(_ count: Int) {
        bytes.append(UInt8(ascii: "o"))
        writeCount(count)
    }

    mutating func writeCount(_ n: Int) {
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: n).littleEndian) { bytes.append(contentsOf: $0) }
    }
}

extension ValueWriter {
    /// `ctx` without `config`: {account, history, now}, written field by field (no dictionaries).
    mutating func write(_ context: PolicyContext) {
        beginObject(3)
        writeKey("account")
        let a = context.account
        beginObject(8)
        writeKey("id"); writeString(a.id)
        writeKey("status"); writeString(a.status.rawValue)
        writeKey("tier"); writeOptionalString(a.tier)
        writeKey("mrr_minor"); writeInt(a.mrrMinor)
        writeKey("currency"); writeOptionalString(a.currency)
        writeKey("open_balance_minor"); writeInt(a.openBalanceMinor)
        writeKey("days_past_due"); writeInt(a.daysPastDue)
        writeKey("entitlements")
        bytes.append(UInt8(ascii: "a"))
        writeCount(a.entitlements.count)
        for e in a.entitlements { writeString(e) }
        writeKey("history")
        let h = context.history
        beginObject(7)
        writeKey("credits_30d_minor"); writeInt(h.credits30dMinor)
        writeKey("credits_90d_minor"); writeInt(h.credits90dMinor)
        writeKey("credits_365d_minor"); writeInt(h.credits365dMinor)
        writeKey("credit_count_90d"); writeInt(h.creditCount90d)
        writeKey("refunds_90d_minor"); writeInt(h.refunds90dMinor)
        writeKey("open_disputes"); writeInt(h.openDisputes)
        writeKey("failed_payments_30d"); writeInt(h.failedPayments30d)
        writeKey("now"); writeInt(context.now)
    }
}

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
