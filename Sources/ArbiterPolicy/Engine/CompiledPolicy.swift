import ArbiterCore

/// A compiled, validated policy: its source and the header it declared.
public struct CompiledPolicy: Sendable, Hashable {
    public var source: PolicySource
    public var header: PolicyHeader
    public var name: String { header.name }
    public var version: String { source.version }
}
