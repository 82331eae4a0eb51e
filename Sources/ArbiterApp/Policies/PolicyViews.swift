import ArbiterCore
import ArbiterPolicy

/// A stored policy version's source, for building the engine's sets.
public struct StoredPolicySource: Sendable, Hashable {
    public let name: String
    public let version: String
    public let file: String
    public let source: String

    public init(name: String, version: String, file: String, source: String) {
        self.name = name
        self.version = version
        self.file = file
        self.source = source
    }

    public var policySource: PolicySource { PolicySource(file: file, source: source) }
}

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

/// One stored version. Times are RFC 3339 text as stored.
public struct PolicyVersionSummary: Sendable, Hashable {
    public var name: String
    public var version: String
    public var file: String
    /// draft, active, shadow or retired.
    public var status: String
    public var publishedBy: String
    public var publishedAt: String
    public var activatedAt: String?

    public init(name: String, version: String, file: String, status: String, publishedBy: String, publishedAt: String,
                activatedAt: String?) {
        self.name = name
        self.version = version
        self.file = file
        self.status = status
        self.publishedBy = publishedBy
        self.publishedAt = publishedAt
        self.activatedAt = activatedAt
    }
}

/// One version with its source, its tests and the history of its status.
public struct PolicyVersionDetail: Sendable, Hashable {
    public struct Step: Sendable, Hashable {
        public var change: String
        public var actor: String
        public var at: String

        public init(change: String, actor: String, at: String) {
            self.change = change
            self.actor = actor
            self.at = at
        }
    }

    public var summary: PolicyVersionSummary
    public var source: String
    /// The test cases published with it (`{"cases": [...]}`), as given.
    public var tests: JSONValue?
    public var history: [Step]

    public init(summary: PolicyVersionSummary, source: String, tests: JSONValue?, history: [Step]) {
        self.summary = summary
        self.source = source
        self.tests = tests
        self.history = history
    }
}

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

    public init(version: String, previousVersion: String? = nil, approved: MakerChecker.Change? = nil, shadowRun: Int64? = nil) {
        self.version = version
        self.previousVersion = previousVersion
        self.approved = approved
        self.shadowRun = shadowRun
    }
}
