/// What one policy decided.
public enum PolicyOutcome: String, Sendable, Codable {
    case approve
    case review
    case reject
}
