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
