import ArbiterCore
import ArbiterPolicy
import Foundation

/// What ``DecisionStore/record(account:now:_:)`` did.
public enum RecordOutcome: Sendable {
    case stored(DecisionRecord)
    /// The same `source` + `id` was already decided: its stored response, and whether the
    /// stored body is the same as this one. Nothing was written.
    case duplicate(eventId: String, sameBody: Bool, response: String)
    /// The record closure returned nil: nothing was written.
    case stale
}
