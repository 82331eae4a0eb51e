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

/// One action with every attempt, and the dead letter that holds it back, if one does.
public struct OutboxActionDetail: Sendable, Hashable {
    /// One attempt as recorded.
    public struct Attempt: Sendable, Hashable {
        public var at: String
        public var durationMicros: Int64
        public var statusCode: Int64?
        public var error: String?
        /// delivered, retry or dead.
        public var result: String

        public init(at: String, durationMicros: Int64, statusCode: Int64?, error: String?, result: String) {
            self.at = at
            self.durationMicros = durationMicros
            self.statusCode = statusCode
            self.error = error
            self.result = result
        }
    }

    public var action: OutboxAction
    /// What the ERP answered when it refused the action for good.
    public var responseBody: String?
    public var attempts: [Attempt]
    /// An earlier dead letter of the same account that this pending action waits behind.
    public var heldBy: String?

    public init(action: OutboxAction, responseBody: String?, attempts: [Attempt], heldBy: String?) {
        self.action = action
        self.responseBody = responseBody
        self.attempts = attempts
        self.heldBy = heldBy
    }
}

/// The outbox at a glance: actions by status, and when the oldest pending one was queued.
public struct OutboxDepth: Sendable, Hashable {
    public var byStatus: [String: Int]
    public var oldestPending: Date?

    public init(byStatus: [String: Int], oldestPending: Date?) {
        self.byStatus = byStatus
        self.oldestPending = oldestPending
    }
}
