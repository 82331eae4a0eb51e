import ArbiterCore

/// Writes values in the sandbox's input format (see arbiter_sandbox.h): objects carry each
/// value's byte length, so the sandbox can read one field without decoding the others.
/// A struct over raw memory: the hot path has no allocations and no exclusivity checks.
struct ValueWriter {
    fileprivate(set) var base: UnsafeMutableRawPointer
    fileprivate(set) var capacity: Int
    private(set) var count = 0

    /// Writes into `storage`'s buffer from its start; call `storage.adopt(_:)` when done.
    init(_ storage: EncodeStorage) {
        base = storage.base
        capacity = storage.capacity
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    @inline(__always)
    private mutating func reserve(_ n: Int) {
        if count + n > capacity { grow(n) }
    }

    private mutating func grow(_ n: Int) {
        var newCapacity = capacity * 2
        while newCapacity < count + n { newCapacity *= 2 }
        let grown = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 8)
        grown.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = grown
        capacity = newCapacity
    }

    @inline(__always)
    mutating func byte(_ b: UInt8) {
        reserve(1)
        base.storeBytes(of: b, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    @inline(__always)
    private mutating func raw<T: BitwiseCopyable>(_ value: T) {
        reserve(MemoryLayout<T>.size)
        base.storeBytes(of: value, toByteOffset: count, as: T.self)
        count += MemoryLayout<T>.size
    }

    @inline(__always)
    mutating func writeCount(_ n: Int) { raw(UInt32(truncatingIfNeeded: n).littleEndian) }

    /// Forgets what was written after `offset`.
    mutating func truncate(to offset: Int) { count = offset }

    /// Sets a count written earlier (at `offset`) once it is known.
    mutating func patchCount(_ n: Int, at offset: Int) {
        base.storeBytes(of: UInt32(truncatingIfNeeded: n).littleEndian, toByteOffset: offset, as: UInt32.self)
    }

    /// Length-prefixed UTF-8 bytes.
    @inline(__always)
    mutating func lengthPrefixed(_ s: String) {
        // Native strings expose their UTF-8 storage directly; others are copied once.
        let done: Void? = s.utf8.withContiguousStorageIfAvailable { utf8 in lengthPrefixed(bytes: utf8) }
        if done == nil {
            var copy = s
            copy.withUTF8 { lengthPrefixed(bytes: $0) }
        }
    }

    @inline(__always)
    mutating func lengthPrefixed(bytes utf8: UnsafeBufferPointer<UInt8>) {
        reserve(4 + utf8.count)
        base.storeBytes(of: UInt32(truncatingIfNeeded: utf8.count).littleEndian, toByteOffset: count, as: UInt32.self)
        if let source = utf8.baseAddress { (base + count + 4).copyMemory(from: source, byteCount: utf8.count) }
        count += 4 + utf8.count
    }

    @inline(__always)
    mutating func lengthPrefixed(_ s: StaticString) {
        reserve(4 + s.utf8CodeUnitCount)
        base.storeBytes(of: UInt32(truncatingIfNeeded: s.utf8CodeUnitCount).littleEndian, toByteOffset: count, as: UInt32.self)
        (base + count + 4).copyMemory(from: s.utf8Start, byteCount: s.utf8CodeUnitCount)
        count += 4 + s.utf8CodeUnitCount
    }

    mutating func write(_ value: JSONValue) {
        switch value {
        case .null: byte(UInt8(ascii: "n"))
        case .bool(let b): byte(b ? UInt8(ascii: "t") : UInt8(ascii: "f"))
        case .int(let i): writeInt(i)
        case .double(let d):
            byte(UInt8(ascii: "d"))
            raw(d.bitPattern.littleEndian)
        case .string(let s): writeString(s)
        case .array(let items):
            byte(UInt8(ascii: "a"))
            writeCount(items.count)
            for item in items { write(item) }
        case .object(let fields):
            beginObject(fields.count)
            for (key, item) in fields {
                lengthPrefixed(key)
                let field = beginValue()
                write(item)
                endValue(field)
            }
        }
    }

    @inline(__always)
    mutating func writeInt(_ i: Int64) {
        byte(UInt8(ascii: "i"))
        raw(i.littleEndian)
    }

    @inline(__always)
    mutating func writeString(_ s: String) {
        byte(UInt8(ascii: "s"))
        lengthPrefixed(s)
    }

    mutating func writeOptionalString(_ s: String?) {
        if let s { writeString(s) } else { byte(UInt8(ascii: "n")) }
    }

    mutating func beginObject(_ count: Int) {
        byte(UInt8(ascii: "o"))
        writeCount(count)
    }

    /// Leaves room for a field value's length; returns where the value starts.
    @inline(__always)
    mutating func beginValue() -> Int {
        raw(UInt32(0))
        return count
    }

    /// Patches the length of the value written since `beginValue`.
    @inline(__always)
    mutating func endValue(_ start: Int) {
        base.storeBytes(of: UInt32(truncatingIfNeeded: count - start).littleEndian, toByteOffset: start - 4, as: UInt32.self)
    }

    mutating func beginField(_ key: StaticString) -> Int {
        lengthPrefixed(key)
        return beginValue()
    }

    mutating func field(_ key: StaticString, int value: Int64) {
        lengthPrefixed(key)
        raw(UInt32(9).littleEndian)
        writeInt(value)
    }

    mutating func field(_ key: StaticString, string value: String?) {
        let f = beginField(key)
        writeOptionalString(value)
        endValue(f)
    }
}

extension ValueWriter {
    /// `event`: the envelope as submitted. Validation admits exactly these seven fields, so
    /// they are written from the typed values; only the payload goes through the generic path.
    mutating func write(_ event: Event) {
        beginObject(7)
        field("id", string: event.id)
        field("type", string: event.type.rawValue)
        field("source", string: event.source)
        field("occurred_at", string: event.occurredAtText)
        field("account_id", string: event.accountId)
        field("correlation_id", string: event.correlationId)
        let payload = beginField("payload")
        write(.object(event.payload))
        endValue(payload)
    }

    /// `ctx` without `config` (the sandbox adds it): {account, history, now}.
    mutating func write(_ context: PolicyContext) {
        beginObject(3)
        let account = beginField("account")
        let a = context.account
        // Absent optional fields are left out, so policies see plain nil for them.
        beginObject(6 + (a.tier == nil ? 0 : 1) + (a.currency == nil ? 0 : 1))
        field("id", string: a.id)
        field("status", string: a.status.rawValue)
        if let tier = a.tier { field("tier", string: tier) }
        field("mrr_minor", int: a.mrrMinor)
        if let currency = a.currency { field("currency", string: currency) }
        field("open_balance_minor", int: a.openBalanceMinor)
        field("days_past_due", int: a.daysPastDue)
        let entitlements = beginField("entitlements")
        byte(UInt8(ascii: "a"))
        writeCount(a.entitlements.count)
        for e in a.entitlements { writeString(e) }
        endValue(entitlements)
        endValue(account)
        let history = beginField("history")
        let h = context.history
        beginObject(7)
        field("credits_30d_minor", int: h.credits30dMinor)
        field("credits_90d_minor", int: h.credits90dMinor)
        field("credits_365d_minor", int: h.credits365dMinor)
        field("credit_count_90d", int: h.creditCount90d)
        field("refunds_90d_minor", int: h.refunds90dMinor)
        field("open_disputes", int: h.openDisputes)
        field("failed_payments_30d", int: h.failedPayments30d)
        endValue(history)
        field("now", int: context.now)
    }
}
