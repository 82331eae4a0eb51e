/// Maker-checker for what decides live: with it on, a policy admin only proposes an
/// activation, a rollback or a deactivation, and a different policy admin approves it.
public enum MakerChecker {
    /// What a proposal changes once approved.
    public enum Change: String, Sendable, Hashable {
        /// Makes the proposal's version the active one.
        case activate
        /// Re-activates the proposal's version, the one active before the current one.
        case rollback
        /// Retires the proposal's version, the active one.
        case deactivate

        var describing: String {
            switch self {
            case .activate: "activating"
            case .rollback: "rolling back to"
            case .deactivate: "deactivating"
            }
        }
    }

    /// Whether `approver` may approve what `proposer` proposed: never the same person.
    public static func mayApprove(_ change: Change, proposedBy proposer: String, approver: String) throws(Refusal) {
        guard proposer != approver else {
            throw Refusal.forbidden("\(approver) proposed \(change.describing) this version; a different policy admin must approve it")
        }
    }
}
