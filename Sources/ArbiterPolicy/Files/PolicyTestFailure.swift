import ArbiterCore
import Foundation

/// One case that did not pass.
public struct PolicyTestFailure: Sendable, CustomStringConvertible {
    public var policy: String
    public var caseName: String
    public var expected: String
    public var actual: String

    public var description: String {
        "FAIL \(policy): \(caseName)\n  expected: \(expected)\n  actual:   \(actual)"
    }
}
