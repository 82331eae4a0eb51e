import Crypto
import Foundation

/// The result of recomputing an audit chain.
public enum AuditVerification: Sendable, Equatable {
    case intact(count: Int64, lastHash: String)
    /// The first entry that does not check out, and why.
    case broken(seq: Int64, reason: String)
}
