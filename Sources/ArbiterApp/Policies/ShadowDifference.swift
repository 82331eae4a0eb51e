import ArbiterCore
import Foundation

/// A live decision a shadow version would have made differently.
public struct ShadowDifference: Sendable {
    public let run: Int64
    public let eventId: String
    public let decisionId: String
    public let transition: String
    public let outcomeChanged: Bool
    /// `{"outcome", "queue", "reasons", "actions"}` as decided, and as the shadow would have.
    public let actual: JSONValue
    public let shadow: JSONValue
    public let at: Date

    public init(run: Int64, eventId: String, decisionId: String, transition: String, outcomeChanged: Bool,
                actual: JSONValue, shadow: JSONValue, at: Date) {
        self.run = run
        self.eventId = eventId
        self.decisionId = decisionId
        self.transition = transition
        self.outcomeChanged = outcomeChanged
        self.actual = actual
        self.shadow = shadow
        self.at = at
    }
}

