import Foundation

/// An API key as the service sees its caller: who is calling, and what it may do. Never the
/// secret: only its SHA-256 is stored (``hash(secret:)``).
public struct ApiKey: Sendable, Hashable {
    public let id: String
    public let name: String
    public let role: Role
    /// Reviewers: the most money one approval may move, by currency, in minor units (nil: no
    /// limit; money in a currency missing from the limits cannot be approved).
    public let approvalLimits: [String: Int64]?
    public let createdAt: String
    public let revokedAt: String?

    public init(id: String, name: String, role: Role, approvalLimits: [String: Int64]?, createdAt: String, revokedAt: String?) {
        self.id = id
        self.name = name
        self.role = role
        self.approvalLimits = approvalLimits
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }

    /// Whether the key may use a route open to `roles` (`admin` may use every route).
    public func may(_ roles: [Role]) -> Bool { role == .admin || roles.contains(role) }

    /// The reviewer this key acts as.
    public var reviewer: Reviewer { Reviewer(id: id, isAdmin: role == .admin, approvalLimits: approvalLimits) }

    /// What is stored for a secret: its SHA-256 in hex.
    public static func hash(secret: String) -> String { sha256Hex(Array(secret.utf8)) }
}
