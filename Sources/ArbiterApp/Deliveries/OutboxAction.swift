import ArbiterCore
import Foundation

/// An approved action in the outbox, as operators see it. Times are RFC 3339 text as stored.
public struct OutboxAction: Sendable, Hashable {
    public var id: String
    public var decisionId: String
    /// Set when a reviewer's approval queued it.
    public var reviewId: String?
    public var accountId: String
    public var correlationId: String
    /// Where it goes (``OutboxTarget``).
    public var target: String = OutboxTarget.erp
    public var type: String
    public var amountMinor: Int64?
    public var currency: String?
    /// pending, delivered, dead or cancelled.
    public var status: String
    public var attempts: Int
    public var nextAttemptAt: String?
    public var erpReference: String?
    public var lastError: String?
    public var lastStatusCode: Int64?
    public var createdAt: String
    public var deliveredAt: String?
    public var updatedAt: String?
    /// The JSON sent to the ERP.
    public var payload: JSONValue

    public init(id: String, decisionId: String, reviewId: String?, accountId: String, correlationId: String, type: String,
                amountMinor: Int64?, currency: String?, status: String, attempts: Int, nextAttemptAt: String?, erpReference: String?,
                lastError: String?, lastStatusCode: Int64?, createdAt: String, deliveredAt: String?, updatedAt: String?,
                payload: JSONValue) {
        self.id = id
        self.decisionId = decisionId
        self.reviewId = reviewId
        self.accountId = accountId
        self.correlationId = correlationId
        self.type = type
        self.amountMinor = amountMinor
        self.currency = currency
        self.status = status
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.erpReference = erpReference
        self.lastError = lastError
        self.lastStatusCode = lastStatusCode
        self.createdAt = createdAt
        self.deliveredAt = deliveredAt
        self.updatedAt = updatedAt
        self.payload = payload
    }
}
