import ArbiterCore
import Foundation

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
