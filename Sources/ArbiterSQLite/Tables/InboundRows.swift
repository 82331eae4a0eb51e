import ArbiterApp
import ArbiterCore
import GRDB

/// The `inbound_messages` table (webhooks with what became of them) and `inbound_objects`
/// (the payment objects they named).
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
        guard db.changesCount > 0 else { return false }
        for object in message.learned {
            try db.cachedStatement(sql: """
                INSERT INTO inbound_objects (source, object_id, customer_system, customer_ref, invoice_id, learned_at)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (source, object_id) DO UPDATE SET
                    customer_system = excluded.customer_system, customer_ref = excluded.customer_ref,
                    invoice_id = COALESCE(excluded.invoice_id, inbound_objects.invoice_id), learned_at = excluded.learned_at
                """).execute(arguments: [message.source, object.id, object.customer.system, object.customer.ref, object.invoiceId,
                                         message.receivedAt])
        }
        return true
    }

    static func object(_ db: Database, source: String, id: String) throws -> KnownObject? {
        try Row.fetchOne(db, sql: "SELECT * FROM inbound_objects WHERE source = ? AND object_id = ?", arguments: [source, id]).map { row in
            KnownObject(id: row["object_id"], customer: CustomerRef(system: row["customer_system"], ref: row["customer_ref"]),
                        invoiceId: row["invoice_id"])
        }
    }
}
