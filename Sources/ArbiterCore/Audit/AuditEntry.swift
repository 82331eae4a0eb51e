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
