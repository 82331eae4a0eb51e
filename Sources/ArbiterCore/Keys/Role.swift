import Foundation

/// The roles an API key can hold; each route checks one.
public enum Role: String, Sendable, Codable, CaseIterable {
    case submitter
    /// The CRM/billing sync: keeps the account snapshots policies trust. A support tool's
    /// `submitter` key cannot change them.
    case sync
    case reviewer
    case policyAdmin = "policy_admin"
    case auditor
    case `operator`
    case admin

    /// Who may read events, decisions and accounts.
    public static let readers: [Role] = [.submitter, .reviewer, .auditor, .operator, .policyAdmin]
}
