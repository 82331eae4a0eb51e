import ArbiterCore
import Foundation

/// What writing a decision did.
public enum DecisionWrite: Sendable, Equatable {
    case stored
    /// The same `source` + `id` was already decided: its stored response, and whether the
    /// stored body is the same as this one.
    case duplicate(eventId: String, sameBody: Bool, response: String)
}
