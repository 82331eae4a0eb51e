import ArbiterApp
import ArbiterCore
import Foundation
import GRDB

/// Approved actions waiting for the ERP.
public enum Outbox {
    /// Queues one action (with its `id` and ERP payload) in the caller's transaction.
    static func insert(_ db: Database, action: JSONValue, payload: String, decisionId: String, reviewId: String?,
                       accountId: String, correlationId: String, at: String, target: String = OutboxTarget.erp) throws {
        guard let id = action["id"]?.stringValue, let type = action["type"]?.stringValue else {
            throw DatabaseError(message: "an outbox action needs an id and a type")
        }
        try db.cachedStatement(sql: """
            INSERT INTO outbox_actions (id, decision_id, review_id, account_id, correlation_id, type, amount_minor, currency,
                                        payload, status, created_at, target)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)
            """).execute(arguments: [
                id, decisionId, reviewId, accountId, correlationId, type, action["amount_minor"]?.intValue,
                action["currency"]?.stringValue, payload, at, target,
            ])
    }
}
