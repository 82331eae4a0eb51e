/// The combined outcome for an event. Signals nobody decides on are `recorded`.
public enum DecisionOutcome: String, Sendable, Codable {
    case approve
    case review
    case reject
    case recorded
}
