import ArbiterCore
import Foundation

/// How many console sessions are kept: per API key, and in all.
public struct ConsoleSessionLimits: Sendable {
    public var perKey: Int
    public var total: Int

    public init(perKey: Int = 10, total: Int = 10_000) {
        self.perKey = max(1, perKey)
        self.total = max(1, total)
    }
}
