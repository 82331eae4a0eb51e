import ArbiterCore

/// A policy source file with its identity: the version is the SHA-256 of the source.
public struct PolicySource: Sendable, Hashable {
    /// The file name errors are reported against, e.g. `credit_thresholds.lua`.
    public var file: String
    public var source: String
    public var version: String

    public init(file: String, source: String) {
        self.file = file
        self.source = source
        self.version = sha256Hex(Array(source.utf8))
    }
}
