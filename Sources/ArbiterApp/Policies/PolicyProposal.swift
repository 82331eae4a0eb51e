import ArbiterCore
import ArbiterPolicy

/// A pending maker-checker proposal.
public struct PolicyProposal: Sendable, Hashable {
    public var version: String
    public var change: MakerChecker.Change
    public var proposedBy: String
    public var proposedAt: String

    public init(version: String, change: MakerChecker.Change, proposedBy: String, proposedAt: String) {
        self.version = version
        self.change = change
        self.proposedBy = proposedBy
        self.proposedAt = proposedAt
    }
}
