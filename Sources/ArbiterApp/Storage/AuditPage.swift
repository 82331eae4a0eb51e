import ArbiterCore
import Foundation

/// A page of entries and the cursor (`after_seq`) of the next page, nil on the last.
public struct AuditPage: Sendable {
    public var entries: [AuditEntry]
    public var next: Int64?

    public init(entries: [AuditEntry], next: Int64?) {
        self.entries = entries
        self.next = next
    }
}
