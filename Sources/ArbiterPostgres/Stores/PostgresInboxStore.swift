import ArbiterApp
import ArbiterCore
import Foundation
import PostgresNIO

/// The inbox in PostgreSQL, shared by every instance: a vendor's retry that reaches another
/// instance finds the original (the unique source + external id decides which insert wins).
/// Messages are written in the group commits decisions use.
struct PostgresInboxStore: InboxStore {
    let backend: PostgresBackend
    let committer: PostgresCommitter

    func record(_ message: InboundMessage) async throws -> (message: InboundMessage, inserted: Bool) {
        try await committer.submit(accounts: []) { unit in
            let inserted = try await Self.insert(unit, message)
            if inserted { return (message, true) }
            guard let existing = try await Self.fetch(unit, where: "source", message.source, and: "external_id", message.externalId) else {
                throw Refusal.conflict("inbound message \(message.source)/\(message.externalId) conflicts but cannot be read")
            }
            return (existing, false)
        }
    }

    /// Inserts a message unless one is stored under its source and external id already;
    /// whether it was inserted. Also used by a decision's unit (``DecisionRecord/inbound``).
    static func insert(_ unit: WorkUnit, _ message: InboundMessage) async throws -> Bool {
        let outcome = message.outcome
        let inserted = try await unit.value("""
            INSERT INTO inbound_messages (id, source, external_id, vendor_type, received_at, updated_at, headers, body, status, detail,
                                          account_id, events, ordering_key, ordering_at, attempts)
            VALUES (\(message.id), \(message.source), \(message.externalId), \(message.vendorType), \(message.receivedAt),
                    \(message.updatedAt), \(message.headersJSON), \(message.body), \(outcome.status.rawValue), \(outcome.detail),
                    \(outcome.accountId), \(outcome.eventsJSON), \(outcome.orderingKey), \(outcome.orderingAt), \(message.attempts))
            ON CONFLICT (source, external_id) DO NOTHING
            RETURNING id
            """, as: String.self) != nil
        guard inserted else { return false }
        for object in message.learned {
            try await unit.run("""
                INSERT INTO inbound_objects (source, object_id, customer_system, customer_ref, invoice_id, learned_at)
                VALUES (\(message.source), \(object.id), \(object.customer.system), \(object.customer.ref), \(object.invoiceId),
                        \(message.receivedAt))
                ON CONFLICT (source, object_id) DO UPDATE SET
                    customer_system = excluded.customer_system, customer_ref = excluded.customer_ref,
                    invoice_id = COALESCE(excluded.invoice_id, inbound_objects.invoice_id), learned_at = excluded.learned_at
                """)
        }
        return true
    }

    func object(source: String, id: String) async throws -> KnownObject? {
        try await backend.read { unit in
            guard let row = try await unit.row("""
                SELECT object_id, customer_system, customer_ref, invoice_id FROM inbound_objects WHERE source = \(source) AND object_id = \(id)
                """) else { return nil }
            return KnownObject(id: try row["object_id"], customer: CustomerRef(system: try row["customer_system"], ref: try row["customer_ref"]),
                               invoiceId: try row["invoice_id"])
        }
    }

    func message(source: String, externalId: String) async throws -> InboundMessage? {
        try await backend.read { unit in try await Self.fetch(unit, where: "source", source, and: "external_id", externalId) }
    }

    func replayed(_ id: String, _ outcome: InboundOutcome, at: Date, audit: AuditDraft) async throws -> InboundMessage {
        try await committer.submit(accounts: []) { unit in
            try await unit.run("""
                UPDATE inbound_messages SET status = \(outcome.status.rawValue), detail = \(outcome.detail), account_id = \(outcome.accountId),
                    events = \(outcome.eventsJSON), ordering_key = \(outcome.orderingKey), ordering_at = \(outcome.orderingAt),
                    attempts = attempts + 1, updated_at = \(Timestamp.format(at))
                WHERE id = \(id)
                """)
            unit.audit(audit)
            guard let message = try await Self.fetch(unit, where: "id", id) else { throw Refusal.notFound("no inbound message with id '\(id)'") }
            return message
        }
    }

    func message(id: String) async throws -> InboundMessage? {
        try await backend.read { unit in try await Self.fetch(unit, where: "id", id) }
    }

    func messages(_ filter: InboundFilter) async throws -> Page<InboundMessage> {
        try await backend.read { unit in
            var sql = SQL("SELECT * FROM inbound_messages")
            var clauses: [String] = []
            if let source = filter.source { clauses.append("source = \(sql.bind(source))") }
            if let status = filter.status { clauses.append("status = \(sql.bind(status.rawValue))") }
            if let before = filter.before { clauses.append("id < \(sql.bind(before))") }
            if !clauses.isEmpty { sql.append(" WHERE " + clauses.joined(separator: " AND ")) }
            sql.append(" ORDER BY id DESC LIMIT \(sql.bind(Int64(filter.limit + 1)))")
            let rows = try await Self.fetch(unit, sql)
            let page = Array(rows.prefix(filter.limit))
            return Page(items: page, next: rows.count > filter.limit ? page.last?.id : nil)
        }
    }

    func latestApplied(source: String, orderingKey: String) async throws -> Int64? {
        try await backend.read { unit in
            try await unit.value("""
                SELECT MAX(ordering_at) FROM inbound_messages WHERE source = \(source) AND ordering_key = \(orderingKey) AND status = 'processed'
                """, as: Int64.self)
        }
    }

    /// The message whose `column` (and `other`, when given) has these values.
    static func fetch(_ unit: WorkUnit, where column: String, _ value: String, and other: String? = nil,
                      _ otherValue: String? = nil) async throws -> InboundMessage? {
        var sql = SQL("SELECT * FROM inbound_messages WHERE \(column) = ")
        sql.append(sql.bind(value))
        if let other, let otherValue { sql.append(" AND \(other) = \(sql.bind(otherValue))") }
        return try await fetch(unit, sql).first
    }

    static func fetch(_ unit: WorkUnit, _ sql: SQL) async throws -> [InboundMessage] {
        try await unit.rows(sql.query).map { row in
            let outcome = InboundOutcome(status: InboundMessage.Status(rawValue: try row["status"]) ?? .failed, detail: try row["detail"],
                                         accountId: try row["account_id"], events: StoredJSON.value(try row["events"]).arrayValue ?? [],
                                         orderingKey: try row["ordering_key"], orderingAt: try row["ordering_at"])
            return InboundMessage(id: try row["id"], source: try row["source"], externalId: try row["external_id"],
                                  vendorType: try row["vendor_type"], receivedAt: try row["received_at"], updatedAt: try row["updated_at"],
                                  headers: InboundMessage.headers(json: try row["headers"]), body: try row["body"], outcome: outcome,
                                  attempts: try row["attempts"])
        }
    }
}
