import ArbiterCore
import ArbiterPolicy

/// A policy at a glance: its active and shadow versions, drafts, and a pending proposal.
public struct PolicySummary: Sendable, Hashable {
    public var name: String
    public var activeVersion: String?
    public var shadowVersion: String?
    public var drafts: [String]
    public var versionCount: Int
    public var pendingProposal: PolicyProposal?

    public init(name: String, activeVersion: String?, shadowVersion: String?, drafts: [String], versionCount: Int,
                pendingProposal: PolicyProposal?) {
        self.name = name
        self.activeVersion = activeVersion
        self.shadowVersion = shadowVersion
        self.drafts = drafts
        self.versionCount = versionCount
        self.pendingProposal = pendingProposal
    }
}
