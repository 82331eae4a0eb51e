import ArbiterApp
import ArbiterCore
import Foundation
import GRDB

/// The inbox in SQLite.
public struct SQLiteInboxStore: InboxStore {
    let database: AppDatabase

    public init(database: AppDatabase) {
        self.database = database
    }

    public func receive(_ message: InboundMessage) async throws -> (message: InboundMessage, inserted: Bool) {
        try await database.writer.write { db in
            if let existing = try Self.fetch(db, "WHERE source = ? AND external_id = ?", [message.source, message.externalId]).first {
                return (existing, false)
            }
            try db.execute(sql: """
                INSERT INTO inbound_messages (id, source, external_id, vendor_type, received_at, updated_at, headers, body, status)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'received')
                """, arguments: [message.id, message.source, message.externalId, message.vendorType, message.receivedAt, message.updatedAt,
                                 message.headersJSON, message.body])
            return (message, true)
        }
    }

    public func finish(_ id: String, _ outcome: InboundOutcome, at: Date, audit: AuditDraft?) async throws -> InboundMessage {
        try await database.writer.write { db in
            try db.execute(sql: """
                UPDATE inbound_messages SET status = ?, detail = ?, account_id = ?, events = ?, ordering_key = ?, ordering_at = ?,
                    attempts = attempts + 1, updated_at = ?
                WHERE id = ?
                """, arguments: [outcome.status.rawValue, outcome.detail, outcome.accountId, CanonicalJSON.string(.array(outcome.events)),
                                 outcome.orderingKey, outcome.orderingAt, Timestamp.format(at), id])
            if let audit {
                var chain = try AuditChain(db)
                try chain.append(db, audit)
            }
            guard let message = try Self.fetch(db, "WHERE id = ?", [id]).first else {
                throw Refusal.notFound("no inbound message with id '\(id)'")
            }
            return message
        }
    }

    public func message(id: String) async throws -> InboundMessage? {
        try await database.writer.read { db in try Self.fetch(db, "WHERE id = ?", [id]).first }
    }

    public func messages(_ filter: InboundFilter) async throws -> Page<InboundMessage> {
        try await database.writer.read { db in
            var clauses: [String] = [], arguments: [(any DatabaseValueConvertible)?] = []
            if let source = filter.source { clauses.append("source = ?"); arguments.append(source) }
            if let status = filter.status { clauses.append("status = ?"); arguments.append(status.rawValue) }
            if let before = filter.before { clauses.append("id < ?"); arguments.append(before) }
            let condition = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
            let rows = try Self.fetch(db, "\(condition) ORDER BY id DESC LIMIT \(filter.limit + 1)", StatementArguments(arguments))
            let page = Array(rows.prefix(filter.limit))
            return Page(items: page, next: rows.count > filter.limit ? page.last?.id : nil)
        }
    }

    public func latestApplied(source: String, orderingKey: String) async throws -> Int64? {
        try await database.writer.read { db in
            try Int64.fetchOne(db, sql: """
                SELECT MAX(ordering_at) FROM inbound_messages WHERE source = ? AND ordering_key = ? AND status = 'processed'
                """, arguments: [source, orderingKey])
        }
    }

    static func fetch(_ db: Database, _ clause: String, _ arguments: StatementArguments) throws -> [InboundMessage] {
        try Row.fetchAll(db, sql: "SELECT * FROM inbound_messages \(clause)", arguments: arguments).map { row in
            InboundMessage(id: row["id"], source: row["source"], externalId: row["external_id"], vendorType: row["vendor_type"],
                           receivedAt: row["received_at"], updatedAt: row["updated_at"], headers: InboundMessage.headers(json: row["headers"]),
                           body: row["body"], status: InboundMessage.Status(rawValue: row["status"]) ?? .received, detail: row["detail"],
                           accountId: row["account_id"], events: StoredJSON.value(row["events"]).arrayValue ?? [],
                           orderingKey: row["ordering_key"], orderingAt: row["ordering_at"], attempts: row["attempts"])
        }
    }
}
