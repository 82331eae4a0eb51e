import ArbiterCore
import Foundation

/// An audit entry as an export copies it: `data` exactly as stored (canonical JSON text).
public struct ExportedAuditRow: Sendable {
    public var seq: Int64
    public var at: String
    public var actor: String
    public var kind: String
    public var subject: String
    public var correlationId: String?
    public var data: String
    public var prevHash: String
    public var hash: String

    public init(seq: Int64, at: String, actor: String, kind: String, subject: String, correlationId: String?, data: String,
                prevHash: String, hash: String) {
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
}
