import ArbiterCore
import Foundation

/// An entry's place in the chain.
public struct AuditPosition: Sendable, Hashable {
    public var seq: Int64
    public var hash: String

    public init(seq: Int64, hash: String) {
        self.seq = seq
        self.hash = hash
    }
}
