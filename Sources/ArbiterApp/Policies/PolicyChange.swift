import ArbiterCore
import ArbiterPolicy

/// A change to what decides live, made as one unit of work by ``PolicyStore``.
public enum PolicyChange: Sendable {
    /// Makes the version the active one (the previous one is retired).
    case activate(version: String)
    /// Re-activates the version active before the current one.
    case rollback
    /// Retires the active version.
    case deactivate
    /// Maker-checker: proposes one of the three (a pending proposal of the policy is superseded).
    case proposeActivation(version: String)
    case proposeRollback
    case proposeDeactivation
    /// Maker-checker: a different policy admin approves the pending proposal about the version,
    /// which is carried out.
    case approve(version: String)
    /// Runs the version in shadow on the event types it decides (a version already in shadow
    /// stops).
    case shadow(version: String, eventTypes: [String])
    case stopShadow
}
