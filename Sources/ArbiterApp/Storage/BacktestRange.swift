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

extension BacktestRange {
    /// Reads `{"from", "to", "limit"?}` as `POST …/backtest` and the console take it; errors name the field.
    public static func parse(_ body: [String: JSONValue]) throws -> BacktestRange {
        var errors = RequestFields.unknown(body, allowed: ["from", "to", "limit"])
        let from = RequestFields.time(body, "from", &errors), to = RequestFields.time(body, "to", &errors)
        if let from, let to, from >= to { errors.append(FieldError("to", "must be after from")) }
        var limit: Int?
        switch body["limit"]?.integralAsInt {
        case nil, .null?: break
        case .int(let n)? where (1...10_000_000).contains(n): limit = Int(n)
        default: errors.append(FieldError("limit", "must be an integer from 1 to 10000000"))
        }
        guard errors.isEmpty, let from, let to else { throw Refusal.invalid(errors) }
        return BacktestRange(from: from, to: to, limit: limit)
    }
}

