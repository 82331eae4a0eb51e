import ArbiterCore
import ArbiterPolicy

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
