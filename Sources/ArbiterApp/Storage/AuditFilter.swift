import ArbiterCore
import Foundation

/// Which entries ``AuditStore/entries(_:)`` returns: after `afterSeq`, oldest first, at most
/// `limit`, each filter exact when given.
public struct AuditFilter: Sendable {
    public var afterSeq: Int64 = 0
    public var limit = 100
    public var kind: String?
    public var actor: String?
    public var subject: String?
    public var correlationId: String?

    public init() {}
}
