import ArbiterCore
import CLuaSandbox
import Glibc

/// The header a policy file declares: `name`, `on` and `priority`.
public struct PolicyHeader: Sendable, Hashable {
    public var name: String
    public var on: [String]
    public var priority: Int64
}
