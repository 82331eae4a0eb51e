import Crypto
import Foundation

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
