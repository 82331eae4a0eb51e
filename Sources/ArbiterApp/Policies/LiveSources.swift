import ArbiterCore
import ArbiterPolicy

/// What decides live: the active versions' sources and the versions in shadow (each with the
/// id of its shadow run).
public struct LiveSources: Sendable {
    public var active: [StoredPolicySource]
    public var shadows: [(run: Int64, source: StoredPolicySource)]

    public init(active: [StoredPolicySource], shadows: [(run: Int64, source: StoredPolicySource)]) {
        self.active = active
        self.shadows = shadows
    }
}
