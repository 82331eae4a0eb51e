import Crypto

/// Audit entries read back from an export, as much as checking them needs. A CSV record
/// becomes a value: its `seq`, its `hash` and `prev_hash` as written and the hash recomputed
/// from its cells (all as 64 lower-case hex bytes). A JSONL line is checked where it lies
/// (``layout(_:)``, ``hashMatches(_:_:)``): exports run to millions of lines.
struct ExportedAuditEntry {
    var seq: Int64
    var hash: [UInt8]
    var prevHash: [UInt8]
    var computedHash: [UInt8]

    /// The members of an audit line, in the order the canonical JSON has them.
    private static let lineKeys = ["actor", "at", "correlation_id", "data", "hash", "kind", "prev_hash", "seq", "subject"]
        .map { Array($0.utf8) }

    /// Where the parts of a JSONL audit line are: the line is the canonical JSON of the entry
    /// with `hash` and `prev_hash` among its members, so the hashed JSON is the line with those
    /// two members (each with its leading comma) cut out.
    struct LineLayout {
        /// Offsets of the leading commas of `,"hash":`, `,"kind":`, `,"prev_hash":` and `,"seq":`.
        var hashMember = 0, kindMember = 0, prevHashMember = 0, seqMember = 0
        /// The 64 hex digits of `hash` and `prev_hash` start here.
        var hash = 0, prevHash = 0
        var seq: Int64 = 0
    }

    /// Finds the members of one JSONL line without building its values; nil when the line is
    /// not an audit entry laid out that way. Allocates nothing: `verify-export` runs it on every
    /// row of exports of millions.
    static func layout(_ line: UnsafeBufferPointer<UInt8>) -> LineLayout? {
        var layout = LineLayout()
        let n = line.count
        guard n > 1, line[0] == UInt8(ascii: "{") else { return nil }
        var i = 1
        for (index, key) in lineKeys.enumerated() {
            let start = index == 0 ? i : i - 1
            guard i + key.count + 3 <= n, line[i] == UInt8(ascii: "\"") else { return nil }
            for k in 0..<key.count where line[i + 1 + k] != key[k] { return nil }
            i += key.count + 1
            guard line[i] == UInt8(ascii: "\""), line[i + 1] == UInt8(ascii: ":") else { return nil }
            i += 2
            guard let end = JSONSkip.value(line, from: i), end < n else { return nil }
            switch index {
            case 4, 6:
                guard end - i == 66, line[i] == UInt8(ascii: "\""), line[end - 1] == UInt8(ascii: "\"") else { return nil }
                if index == 4 { (layout.hashMember, layout.hash) = (start, i + 1) } else { (layout.prevHashMember, layout.prevHash) = (start, i + 1) }
            case 5:
                layout.kindMember = start
            case 7:
                guard end > i, end - i <= 18 else { return nil }
                for index in i..<end {
                    let digit = line[index]
                    guard digit >= 48, digit <= 57 else { return nil }
                    layout.seq = layout.seq * 10 + Int64(digit - 48)
                }
                layout.seqMember = start
            default:
                break
            }
            i = end
            guard line[i] == (index == lineKeys.count - 1 ? UInt8(ascii: "}") : UInt8(ascii: ",")) else { return nil }
            i += 1
        }
        return i == n ? layout : nil
    }

    /// Whether the line's `hash` is SHA-256 of its `prev_hash` bytes and its canonical JSON
    /// without `hash` and `prev_hash`.
    static func hashMatches(_ line: UnsafeBufferPointer<UInt8>, _ layout: LineLayout) -> Bool {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { previous in
            for k in 0..<32 {
                guard let high = Hex.nibble(line[layout.prevHash + 2 * k]), let low = Hex.nibble(line[layout.prevHash + 2 * k + 1]) else {
                    return false
                }
                previous[k] = high << 4 | low
            }
            var hasher = SHA256()
            hasher.update(bufferPointer: UnsafeRawBufferPointer(previous))
            hasher.update(bufferPointer: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: line[0..<layout.hashMember])))
            hasher.update(bufferPointer: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: line[layout.kindMember..<layout.prevHashMember])))
            hasher.update(bufferPointer: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: line[layout.seqMember..<line.count])))
            var k = layout.hash
            for byte in hasher.finalize() {
                guard line[k] == Hex.digits[Int(byte >> 4)], line[k + 1] == Hex.digits[Int(byte & 0xF)] else { return false }
                k += 2
            }
            return true
        }
    }

    /// The columns of an audit CSV export, in order.
    static let csvColumns = ["seq", "at", "actor", "kind", "subject", "correlation_id", "data", "prev_hash", "hash"]

    /// Reads one CSV record (``csvColumns``; an empty `correlation_id` is null) and recomputes
    /// the canonical JSON its hash covers. Nil when it is not an audit entry.
    init?(csv cells: [String]) {
        guard cells.count == Self.csvColumns.count, let seq = Int64(cells[0]), String(seq) == cells[0] else { return nil }
        let text = cells.map(CSV.text)
        let draft = AuditDraft(actor: text[2], kind: text[3], subject: text[4], correlationId: text[5].isEmpty ? nil : text[5],
                               at: text[1], dataJSON: Array(text[6].utf8))
        guard text[7].utf8.count == 64, Hex.decode(text[7]) != nil, text[8].utf8.count == 64 else { return nil }
        self.init(seq: seq, hash: Array(text[8].utf8), prevHash: Array(text[7].utf8),
                  computedHash: Array(draft.hash(seq: seq, prevHash: text[7]).utf8))
    }

    private init(seq: Int64, hash: [UInt8], prevHash: [UInt8], computedHash: [UInt8]) {
        self.seq = seq
        self.hash = hash
        self.prevHash = prevHash
        self.computedHash = computedHash
    }
}
