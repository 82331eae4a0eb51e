import ArbiterCore
import Foundation

/// Events received in [from, to), the first `limit` of them.
public struct BacktestRange: Sendable {
    public let from: Date
    public let to: Date
    public let limit: Int?

    public init(from: Date, to: Date, limit: Int?) {
        self.from = from
        self.to = to
        self.limit = limit
    }
}
