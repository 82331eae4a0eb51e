import Foundation

/// Whether an event asks for a decision (a request) or reports a fact (a signal).
public enum EventKind: String, Sendable, Codable {
    case request
    case signal
}
