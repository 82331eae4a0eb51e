import ArbiterApp
import GRDB

/// The `inbound_messages` table: webhooks with what became of them.
enum InboundRows {
    /// Inserts a message unless one is stored under its source and external id already (a
    /// vendor's retry that raced the first delivery); whether it was inserted.
    @discardableResult
    static func insert(_ db: Database, _ message: InboundMessage) throws -> Bool {
        let outcome = message.outcome
        try db.cachedStatement(sql: """
            INSERT INTO inbound_messages (id, source, external_id, vendor_type, received_at, updated_at, headers, body, status, detail,
                                          account_id, events, ordering_key, ordering_at, attempts)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (source, external_id) DO NOTHING
            """).execute(arguments: [
                message.id, message.source, message.externalId, message.vendorType, message.receivedAt, message.updatedAt,
                message.headersJSON, message.body, outcome.status.rawValue, outcome.detail, outcome.accountId,
                outcome.eventsJSON, outcome.orderingKey, outcome.orderingAt, message.attempts,
            ])
        return db.changesCount > 0
    }
}
