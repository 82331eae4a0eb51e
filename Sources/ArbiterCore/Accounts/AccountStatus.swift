/// An account's standing as Arbiter knows it.
public enum AccountStatus: String, Sendable, Codable, CaseIterable {
    case active
    case pastDue = "past_due"
    case suspended
    case closed
    /// Arbiter has never heard of the account.
    case unknown
}
