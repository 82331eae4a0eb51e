import ArbiterCore
import ArbiterPolicy
import Foundation

/// The changes a policy admin asks for — activate a version, roll back, deactivate — with the
/// service's maker-checker setting applied in one place: with `requireApproval` each is only
/// proposed until a different policy admin approves it. The API (`/v1/policies`) and the console
/// both come here.
public struct PolicyControls: Sendable {
    public let lifecycle: PolicyLifecycle
    public let requireApproval: Bool

    public init(lifecycle: PolicyLifecycle, requireApproval: Bool) {
        self.lifecycle = lifecycle
        self.requireApproval = requireApproval
    }

    public enum Result: Sendable {
        /// Carried out.
        case done(PolicyChangeOutcome)
        /// Proposed: waits for a different policy admin's approval.
        case proposed(version: String, change: MakerChecker.Change)
    }

    public func activate(_ version: String, of name: String, by actor: String) async throws -> Result {
        guard requireApproval else { return .done(try await lifecycle.change(.activate(version: version), of: name, by: actor)) }
        try await lifecycle.change(.proposeActivation(version: version), of: name, by: actor)
        return .proposed(version: version, change: .activate)
    }

    public func rollback(_ name: String, by actor: String) async throws -> Result {
        guard requireApproval else { return .done(try await lifecycle.change(.rollback, of: name, by: actor)) }
        let proposal = try await lifecycle.change(.proposeRollback, of: name, by: actor)
        return .proposed(version: proposal.version, change: .rollback)
    }

    public func deactivate(_ name: String, by actor: String) async throws -> Result {
        guard requireApproval else { return .done(try await lifecycle.change(.deactivate, of: name, by: actor)) }
        let proposal = try await lifecycle.change(.proposeDeactivation, of: name, by: actor)
        return .proposed(version: proposal.version, change: .deactivate)
    }

    /// Runs the version in shadow on the event types it decides (another version in shadow stops).
    public func shadow(_ version: String, of name: String, by actor: String) async throws -> (outcome: PolicyChangeOutcome, eventTypes: [String]) {
        let types = try await lifecycle.compiled(name: name, version: version).header.on
        return (try await lifecycle.change(.shadow(version: version, eventTypes: types), of: name, by: actor), types)
    }

    public func stopShadow(_ name: String, by actor: String) async throws -> PolicyChangeOutcome {
        try await lifecycle.change(.stopShadow, of: name, by: actor)
    }

    /// Replays the range's recorded events through the version (answered at once when small,
    /// else a job to follow).
    public func backtest(_ version: String, of name: String, range: BacktestRange, by actor: String) async throws -> (job: BacktestJob, inline: Bool) {
        let candidate = try await lifecycle.compiled(name: name, version: version)
        return try await lifecycle.backtests.start(candidate: candidate, range: range, by: actor)
    }

    /// A different policy admin approves the pending proposal about `version`; it is carried out.
    public func approve(_ version: String, of name: String, by actor: String) async throws -> PolicyChangeOutcome {
        try await lifecycle.change(.approve(version: version), of: name, by: actor)
    }
}
