import ArbiterCore
import ArbiterPolicy

/// What a ``PolicyChange`` did.
public struct PolicyChangeOutcome: Sendable {
    /// The version the change is about: made active, proposed, retired, put in or out of shadow.
    public var version: String
    /// The version that was active before.
    public var previousVersion: String?
    /// What an approval carried out.
    public var approved: MakerChecker.Change?
    /// The shadow run started.
    public var shadowRun: Int64?
    /// On a store other instances share: the generation of what decides live this change made
    /// (see ``PolicyLifecycle/reloadIfChanged(generation:)``).
    public var generation: Int64?

    public init(version: String, previousVersion: String? = nil, approved: MakerChecker.Change? = nil, shadowRun: Int64? = nil) {
        self.version = version
        self.previousVersion = previousVersion
        self.approved = approved
        self.shadowRun = shadowRun
    }
}
