import ArbiterCore
import Foundation

/// How `arbiter serve` reconciles: where reports go, and the optional scheduled run
/// (`--reconcile-every 24h --reconcile-pull <target>`): every period, the target's ERP is read
/// for the window of the period plus the stale age back from now (windows overlap, so an action
/// still pending in one run is looked at again in the next), as `system:reconcile`.
public struct ReconciliationSettings: Sendable {
    /// `--reconciliations-dir`; nil: `reconciliations/` in the data directory.
    public var directory: String?
    public var every: Duration?
    public var pull: String?
    /// `--reconcile-stale-after` (seconds).
    public var staleAfter: Int = ReconciliationRequest.defaultStaleAfter

    public init(directory: String? = nil, every: Duration? = nil, pull: String? = nil,
                staleAfter: Int = ReconciliationRequest.defaultStaleAfter) {
        self.directory = directory
        self.every = every
        self.pull = pull
        self.staleAfter = staleAfter
    }
}
