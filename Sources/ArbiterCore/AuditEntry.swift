import Crypto
import Foundation

/// One entry of the tamper-evident audit trail.
///
/// `hash = SHA-256(prev_hash ‖ canonical JSON of the entry)`, where `prev_hash` is the previous
/// entry's hash as 32 raw bytes (32 zero bytes for the first entry) and the canonical JSON
/// (see ``CanonicalJSON``) is of the object
/// `{"actor", "at", "correlation_id", "data", "kind", "seq", "subject"}` — `correlation_id`
/// is `null` when absent. Hashes are stored and shown as lower-case hex.
public struct AuditEntry: Sendable, Hashable {
    public var seq: Int64
    /// RFC 3339 UTC time with microseconds, as text (hashed as written).
    public var at: String
    /// Who: an API key id, `system`, or `cli:<user>`.
    public var actor: String
    /// What happened: `event.received`, `decision.made`, `policy.activated`, `key.created`, …
    public var kind: String
    /// What it happened to: an event, decision, review item, policy or key id.
    public var subject: String
    public var correlationId: String?
    public var data: JSONValue
    public var prevHash: String
    public var hash: String

    /// The genesis `prev_hash`: 32 zero bytes.
    public static let genesisHash = String(repeating: "0", count: 64)

    public init(seq: Int64, at: String, actor: String, kind: String, subject: String, correlationId: String?,
                data: JSONValue, prevHash: String, hash: String) {
        self.seq = seq
        self.at = at
        self.actor = actor
        self.kind = kind
        self.subject = subject
        self.correlationId = correlationId
        self.data = data
        self.prevHash = prevHash
        self.hash = hash
    }

    /// Builds the entry that follows `prevHash`, computing its hash.
    public static func make(seq: Int64, at: String, actor: String, kind: String, subject: String, correlationId: String?,
                            data: JSONValue, prevHash: String) -> AuditEntry {
        var entry = AuditEntry(seq: seq, at: at, actor: actor, kind: kind, subject: subject, correlationId: correlationId,
                               data: data, prevHash: prevHash, hash: "")
        entry.hash = entry.computedHash()
        return entry
    }

    /// Reads an entry as the API and exports show it (``json``); nil when a field is missing.
    public init?(json: JSONValue) {
        guard let f = json.objectValue, let seq = f["seq"]?.intValue, let at = f["at"]?.stringValue,
              let actor = f["actor"]?.stringValue, let kind = f["kind"]?.stringValue, let subject = f["subject"]?.stringValue,
              let data = f["data"], let prevHash = f["prev_hash"]?.stringValue, let hash = f["hash"]?.stringValue else { return nil }
        self.init(seq: seq, at: at, actor: actor, kind: kind, subject: subject, correlationId: f["correlation_id"]?.stringValue,
                  data: data, prevHash: prevHash, hash: hash)
    }

    /// The entry as the API and exports show it: the hashed fields with `prev_hash` and `hash`.
    public var json: JSONValue {
        guard case .object(var fields) = canonicalObject else { return canonicalObject }
        fields["prev_hash"] = .string(prevHash)
        fields["hash"] = .string(hash)
        return .object(fields)
    }

    /// The object whose canonical JSON is hashed.
    public var canonicalObject: JSONValue {
        .object([
            "actor": .string(actor), "at": .string(at), "correlation_id": correlationId.map(JSONValue.string) ?? .null,
            "data": data, "kind": .string(kind), "seq": .int(seq), "subject": .string(subject),
        ])
    }

    /// SHA-256 over the previous hash's bytes and this entry's canonical JSON, as hex.
    public func computedHash() -> String {
        AuditDraft(actor: actor, kind: kind, subject: subject, correlationId: correlationId, at: at,
                   dataJSON: CanonicalJSON.encode(data)).hash(seq: seq, prevHash: prevHash)
    }
}

/// An audit entry before it has its place in the chain: everything but `seq` and `prev_hash`,
/// with its canonical JSON already laid out around the `seq`. Drafts are made where the work
/// runs in parallel; appending one in the single writer then costs one SHA-256.
public struct AuditDraft: Sendable {
    public let actor: String
    public let kind: String
    public let subject: String
    public let correlationId: String?
    /// The entry's time as stored and hashed (``Timestamp/format(_:)``).
    public let at: String
    /// The data as canonical JSON, stored as is.
    public let dataJSON: [UInt8]
    /// The canonical JSON of `{"actor", "at", "correlation_id", "data", "kind", "seq", "subject"}`
    /// (keys in code-point order) up to the `seq` value, and after it.
    private let head: [UInt8]
    private let tail: [UInt8]

    public init(actor: String, kind: String, subject: String, correlationId: String?, at: String, dataJSON: [UInt8]) {
        self.actor = actor
        self.kind = kind
        self.subject = subject
        self.correlationId = correlationId
        self.at = at
        self.dataJSON = dataJSON
        var head: [UInt8] = []
        head.reserveCapacity(dataJSON.count + 160)
        head.append(contentsOf: #"{"actor":"#.utf8)
        CanonicalJSON.writeString(actor, into: &head)
        head.append(contentsOf: #","at":"#.utf8)
        CanonicalJSON.writeString(at, into: &head)
        head.append(contentsOf: #","correlation_id":"#.utf8)
        if let correlationId { CanonicalJSON.writeString(correlationId, into: &head) } else { head.append(contentsOf: "null".utf8) }
        head.append(contentsOf: #","data":"#.utf8)
        head.append(contentsOf: dataJSON)
        head.append(contentsOf: #","kind":"#.utf8)
        CanonicalJSON.writeString(kind, into: &head)
        head.append(contentsOf: #","seq":"#.utf8)
        var tail: [UInt8] = Array(#","subject":"#.utf8)
        CanonicalJSON.writeString(subject, into: &tail)
        tail.append(UInt8(ascii: "}"))
        self.head = head
        self.tail = tail
    }

    /// `SHA-256(prev_hash as 32 bytes ‖ canonical JSON of the entry)` in hex.
    public func hash(seq: Int64, prevHash: String) -> String {
        var seqText: [UInt8] = []
        CanonicalJSON.writeInteger(seq, into: &seqText)
        var hasher = SHA256()
        hasher.update(data: Hex.decode(prevHash) ?? [UInt8](repeating: 0, count: 32))
        hasher.update(data: head)
        hasher.update(data: seqText)
        hasher.update(data: tail)
        return Hex.encode(hasher.finalize())
    }
}

/// The result of recomputing an audit chain.
public enum AuditVerification: Sendable, Equatable {
    case intact(count: Int64, lastHash: String)
    /// The first entry that does not check out, and why.
    case broken(seq: Int64, reason: String)
}

/// Recomputes a chain entry by entry; stops at the first broken one.
public struct AuditChainVerifier: Sendable {
    private var expectedSeq: Int64
    private var previousHash: String
    private var count: Int64 = 0
    public private(set) var failure: AuditVerification?

    /// - Parameters: the sequence number and prev-hash the first entry must carry
    ///   (1 and the genesis hash for a whole chain).
    public init(firstSeq: Int64 = 1, previousHash: String = AuditEntry.genesisHash) {
        self.expectedSeq = firstSeq
        self.previousHash = previousHash
    }

    /// Checks the next entry. Returns false once the chain is broken.
    @discardableResult
    public mutating func check(_ entry: AuditEntry) -> Bool {
        guard failure == nil else { return false }
        if entry.seq != expectedSeq {
            failure = .broken(seq: expectedSeq, reason: "entry \(expectedSeq) is missing (found \(entry.seq) next)")
        } else if entry.prevHash != previousHash {
            failure = .broken(seq: entry.seq, reason: "prev_hash does not match the hash of entry \(entry.seq - 1)")
        } else if entry.computedHash() != entry.hash {
            failure = .broken(seq: entry.seq, reason: "hash does not match the entry's contents (altered)")
        }
        if failure != nil { return false }
        expectedSeq += 1
        previousHash = entry.hash
        count += 1
        return true
    }

    public var result: AuditVerification { failure ?? .intact(count: count, lastHash: previousHash) }
}

/// Lower-case hex encoding.
public enum Hex {
    static let digits = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The value of one hex digit (either case).
    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 97...102: c - 87
        case 65...70: c - 55
        default: nil
        }
    }

    public static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}

/// SHA-256 of bytes, as hex: policy versions, body digests, key hashes.
public func sha256Hex(_ bytes: some DataProtocol) -> String {
    Hex.encode(SHA256.hash(data: bytes))
}

/// SHA-256 over data given in pieces, as hex at the end.
public struct SHA256Stream {
    private var hasher = SHA256()
    public init() {}
    public mutating func update(_ data: some DataProtocol) { hasher.update(data: data) }
    public var hex: String { Hex.encode(hasher.finalize()) }
}
