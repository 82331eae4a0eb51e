/// Arbiter's side of a reconciliation: every money action approved in the period, with its
/// delivery status and ERP reference. Held column by column in flat buffers and found by id
/// through an open-addressing index, so a million actions take tens of megabytes, not hundreds.
public struct ReconciliationLedger: Sendable {
    public enum Status: UInt8, Sendable, CaseIterable {
        case pending, delivered, dead, cancelled

        public init?(_ text: String) {
            switch text {
            case "pending": self = .pending
            case "delivered": self = .delivered
            case "dead": self = .dead
            case "cancelled": self = .cancelled
            default: return nil
            }
        }

        public var name: String {
            switch self {
            case .pending: "pending"
            case .delivered: "delivered"
            case .dead: "dead"
            case .cancelled: "cancelled"
            }
        }
    }

    /// Variable-length texts one after another.
    struct Texts: Sendable {
        var bytes: [UInt8] = []
        var ends: [UInt32] = []

        mutating func append<S: Sequence>(_ text: S) where S.Element == UInt8 {
            bytes.append(contentsOf: text)
            ends.append(UInt32(bytes.count))
        }

        subscript(_ i: Int) -> ArraySlice<UInt8> {
            bytes[(i == 0 ? 0 : Int(ends[i - 1]))..<Int(ends[i])]
        }

        func string(_ i: Int) -> String { String(decoding: self[i], as: UTF8.self) }
    }

    var ids = Texts()
    var references = Texts()
    var approved = Texts()
    var amounts: [Int64] = []
    var currencies: [UInt16] = []
    var types: [ActionType] = []
    var statuses: [Status] = []
    /// The currencies seen, by their index in ``currencies``.
    var currencyTable: [Currency] = []
    private var currencyIndex: [String: UInt16] = [:]
    /// Slots of action positions + 1 (0: empty), sized to a power of two at least twice the count.
    private var slots: [Int32] = []

    public init(capacity: Int = 0) {
        amounts.reserveCapacity(capacity)
        currencies.reserveCapacity(capacity)
        types.reserveCapacity(capacity)
        statuses.reserveCapacity(capacity)
        ids.ends.reserveCapacity(capacity)
        references.ends.reserveCapacity(capacity)
        approved.ends.reserveCapacity(capacity)
        // Room for what ids (UUIDs), references and times take, so that the buffers are not
        // doubled (and, while doubling, held twice) as a million actions come in.
        ids.bytes.reserveCapacity(capacity * 36)
        references.bytes.reserveCapacity(capacity * 12)
        approved.bytes.reserveCapacity(capacity * 27)
        slots = Array(repeating: 0, count: Swift.max(1024, (2 * capacity).nextPowerOfTwo))
    }

    public var count: Int { amounts.count }

    /// Adds an action (money actions only; their order is the report's).
    public mutating func append(id: String, type: ActionType, amountMinor: Int64, currency: Currency, status: Status,
                                approvedAt: String, reference: String?) {
        ids.append(id.utf8)
        references.append((reference ?? "").utf8)
        approved.append(approvedAt.utf8)
        amounts.append(amountMinor)
        types.append(type)
        statuses.append(status)
        if let index = currencyIndex[currency.code] {
            currencies.append(index)
        } else {
            let index = UInt16(currencyTable.count)
            currencyTable.append(currency)
            currencyIndex[currency.code] = index
            currencies.append(index)
        }
        if slots.count < 2 * count { rehash(Swift.max(1024, (2 * count).nextPowerOfTwo)) } else { insert(count - 1) }
    }

    public func id(_ i: Int) -> String { ids.string(i) }
    public func type(_ i: Int) -> ActionType { types[i] }
    public func amount(_ i: Int) -> Int64 { amounts[i] }

    /// The position of the action with this id, if any.
    public func find(_ id: String) -> Int? { find(ArraySlice(id.utf8)) }

    /// The key the ERP holds for an action: its id, or without hyphens (Business Central).
    public func erpKey(_ i: Int, compact: Bool) -> String {
        compact ? String(decoding: ids[i].filter { $0 != UInt8(ascii: "-") }, as: UTF8.self) : ids.string(i)
    }
    public func currency(_ i: Int) -> Currency { currencyTable[Int(currencies[i])] }

    /// The position of the action with this id (as bytes), if any.
    public func find(_ key: ArraySlice<UInt8>) -> Int? {
        guard !slots.isEmpty else { return nil }
        let mask = slots.count - 1
        var slot = Self.hash(key) & mask
        while true {
            let entry = slots[slot]
            if entry == 0 { return nil }
            if ids[Int(entry) - 1].elementsEqual(key) { return Int(entry) - 1 }
            slot = (slot + 1) & mask
        }
    }

    private mutating func insert(_ i: Int) {
        let mask = slots.count - 1
        var slot = Self.hash(ids[i]) & mask
        while slots[slot] != 0 { slot = (slot + 1) & mask }
        slots[slot] = Int32(i + 1)
    }

    private mutating func rehash(_ size: Int) {
        slots = Array(repeating: 0, count: size)
        for i in 0..<count { insert(i) }
    }

    /// FNV-1a, 64 bits: stable (the report must not depend on a per-run seed) and quick on short ids.
    static func hash(_ bytes: ArraySlice<UInt8>) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }
}

extension Int {
    /// The smallest power of two at least this large.
    var nextPowerOfTwo: Int {
        var n = 1
        while n < self { n <<= 1 }
        return n
    }
}
