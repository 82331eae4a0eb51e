import ArbiterCore
import Foundation

/// A version to store: its compiled name and version, the file it came from, its source and tests.
public struct NewPolicyVersion: Sendable {
    public let name: String
    public let version: String
    public let file: String
    public let source: String
    public let tests: JSONValue?

    public init(name: String, version: String, file: String, source: String, tests: JSONValue?) {
        self.name = name
        self.version = version
        self.file = file
        self.source = source
        self.tests = tests
    }
}
