import ArbiterCore
import Foundation

/// An action the dispatcher is about to hand to the ERP.
public struct PendingAction: Sendable, Hashable {
    public let id: String
    public let accountId: String
    public let correlationId: String
    public let type: String
    /// The JSON body sent (canonical JSON: the action, its id, account, correlation and decision).
    public let payload: String
    /// Attempts so far.
    public let attempts: Int
    public let createdAt: Date

    public init(id: String, accountId: String, correlationId: String, type: String, payload: String, attempts: Int, createdAt: Date) {
        self.id = id
        self.accountId = accountId
        self.correlationId = correlationId
        self.type = type
        self.payload = payload
        self.attempts = attempts
        self.createdAt = createdAt
    }
}
