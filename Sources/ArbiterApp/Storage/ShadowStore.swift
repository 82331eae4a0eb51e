import ArbiterCore

/// What shadow versions would have decided differently on live events.
public protocol ShadowStore: Sendable {
    /// Records one difference (several share a commit).
    func record(_ difference: ShadowDifference) async throws
}
