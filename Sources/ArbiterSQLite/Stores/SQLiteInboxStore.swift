import ArbiterApp
import ArbiterCore
import Foundation
import GRDB

/// The inbox in SQLite: messages are written through the group committer, so concurrent
/// webhooks share commits as decisions do.
public struct SQLiteInboxStore: InboxStore {
    let database: AppDatabase
    let committer: GroupCommitter

    public init(database: AppDatabase, committer: GroupCommitter) {
        self.database = database
        self.committer = committer
    }

    public func record(_ message: InboundMessage) async throws -> (message: InboundMessage, inserted: Bool) {
        try await committer.submit { db, _ in
            if try InboundRows.insert(db, message) { return (message, true) }
            guard let existing = try Self.fetch(db, "WHERE source = ? AND external_id = ?", [message.source, message.externalId]).first else {
                throw DatabaseError(message: "inbound message \(message.source)/\(message.externalId) conflicts but cannot be read")
            }
            return (existing, false)
        }
    }

    public func message(source: String, externalId: String) async throws -> InboundMessage? {
        try await database.writer.read { db in try Self.fetch(db, "WHERE source = ? AND external_id = ?", [source, externalId]).first }
    }

    public func lookup(source: String, externalId: String, customers: [CustomerRef]) async throws
        -> (message: InboundMessage?, accounts: [CustomerRef: String]) {
        try await database.writer.read { db in
            let message = try Self.fetch(db, "WHERE source = ? AND external_id = ?", [source, externalId]).first
            var accounts: [CustomerRef: String] = [:]
            for customer in customers {
                accounts[customer] = try String.fetchOne(db.cachedStatement(sql: "SELECT account_id FROM account_refs WHERE system = ? AND ref = ?"),
                                                         arguments: [customer.system, customer.ref])
            }
            return (message, accounts)
        }
    }

    public func replayed(_ id: String, _ outcome: InboundOutcome, at: Date, audit: AuditDraft) async throws -> InboundMessage {
        try await committer.submit { db, chain in
            try db.execute(sql: """
                UPDATE inbound_messages SET status = ?, detail = ?, account_id = ?, events = ?, ordering_key = ?, ordering_at = ?,
                    attempts = attempts + 1, updated_at = ?
                WHERE id = ?
                """, arguments: [outcome.status.rawValue, outcome.detail, outcome.accountId, outcome.eventsJSON,
                                 outcome.orderingKey, outcome.orderingAt, Timestamp.format(at), id])
            try chain.append(db, audit)
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

    // Mapping versions are written directly, not through the group committer: they are also
    // written at start, before the committer runs.
    public func publishMapping(_ version: MappingVersion, audit: AuditDraft) async throws -> MappingVersion {
        try await database.writer.write { db in
            if let existing = try Self.mappingVersions(db, "WHERE v.source = ? AND v.version = ?", [version.source, version.version]).first {
                return existing
            }
            try Self.insert(db, version)
            var chain = try AuditChain(db)
            try chain.append(db, audit)
            return version
        }
    }

    public func activateMapping(source: String, version: String, by actor: String, at: Date, audit: AuditDraft) async throws {
        try await database.writer.write { db in
            try Self.makeLive(db, source: source, version: version, by: actor, at: Timestamp.format(at))
            var chain = try AuditChain(db)
            try chain.append(db, audit)
        }
    }

    public func mappingVersions(source: String) async throws -> [MappingVersion] {
        try await database.writer.read { db in try Self.mappingVersions(db, "WHERE v.source = ? ORDER BY v.published_at DESC, v.version", [source]) }
    }

    public func mappingVersion(source: String, version: String) async throws -> MappingVersion? {
        try await database.writer.read { db in
            try Self.mappingVersions(db, "WHERE v.source = ? AND v.version = ?", [source, version]).first
        }
    }

    public func activeMappings() async throws -> [String: String] {
        try await database.writer.read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT source, version FROM mapping_active").map {
                ($0["source"] as String, $0["version"] as String)
            })
        }
    }

    public func saveSource(_ source: StoredSource, mapping: MappingVersion?, audit: AuditDraft) async throws -> Bool {
        try await database.writer.write { db in
            if let version = mapping {
                try Self.insert(db, version)
                try Self.makeLive(db, source: version.source, version: version.version, by: source.updatedBy, at: source.updatedAt)
            }
            let existed = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM inbound_sources WHERE name = ?)", arguments: [source.name]) ?? false
            try db.execute(sql: """
                INSERT INTO inbound_sources (name, definition, updated_by, updated_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, updated_by = excluded.updated_by,
                    updated_at = excluded.updated_at
                """, arguments: [source.name, CanonicalJSON.string(source.definition), source.updatedBy, source.updatedAt])
            var chain = try AuditChain(db)
            try chain.append(db, audit)
            return !existed
        }
    }

    public func removeSource(name: String, audit: AuditDraft) async throws -> Bool {
        try await database.writer.write { db in
            try db.execute(sql: "DELETE FROM inbound_sources WHERE name = ?", arguments: [name])
            guard db.changesCount > 0 else { return false }
            try db.execute(sql: "DELETE FROM mapping_active WHERE source = ?", arguments: [name])
            var chain = try AuditChain(db)
            try chain.append(db, audit)
            return true
        }
    }

    public func storedSources() async throws -> [StoredSource] {
        try await database.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM inbound_sources ORDER BY name").map { row in
                StoredSource(name: row["name"], definition: StoredJSON.value(row["definition"]), updatedBy: row["updated_by"],
                             updatedAt: row["updated_at"])
            }
        }
    }

    public func recentMessages(source: String, limit: Int) async throws -> [InboundMessage] {
        try await database.writer.read { db in try Self.fetch(db, "WHERE source = ? ORDER BY id DESC LIMIT \(max(0, limit))", [source]) }
    }

    /// Stores a mapping version (kept as it is when that version is stored already).
    static func insert(_ db: Database, _ version: MappingVersion) throws {
        try db.execute(sql: """
            INSERT INTO mapping_versions (source, version, file, script, tests, published_by, published_at) VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (source, version) DO NOTHING
            """, arguments: [version.source, version.version, version.file, version.script,
                             version.tests.map(CanonicalJSON.string), version.publishedBy, version.publishedAt])
    }

    static func makeLive(_ db: Database, source: String, version: String, by actor: String, at: String) throws {
        try db.execute(sql: """
            INSERT INTO mapping_active (source, version, activated_by, activated_at) VALUES (?, ?, ?, ?)
            ON CONFLICT (source) DO UPDATE SET version = excluded.version, activated_by = excluded.activated_by,
                activated_at = excluded.activated_at
            """, arguments: [source, version, actor, at])
    }

    static func mappingVersions(_ db: Database, _ clause: String, _ arguments: StatementArguments) throws -> [MappingVersion] {
        try Row.fetchAll(db, sql: """
            SELECT v.*, a.version IS NOT NULL AS live FROM mapping_versions v
            LEFT JOIN mapping_active a ON a.source = v.source AND a.version = v.version \(clause)
            """, arguments: arguments).map { row in
            MappingVersion(source: row["source"], version: row["version"], file: row["file"], script: row["script"],
                           tests: (row["tests"] as String?).map { StoredJSON.value($0) }, publishedBy: row["published_by"],
                           publishedAt: row["published_at"], active: row["live"])
        }
    }

    public func object(source: String, id: String) async throws -> KnownObject? {
        try await database.writer.read { db in try InboundRows.object(db, source: source, id: id) }
    }

    static func fetch(_ db: Database, _ clause: String, _ arguments: StatementArguments) throws -> [InboundMessage] {
        try Row.fetchAll(db, sql: "SELECT * FROM inbound_messages \(clause)", arguments: arguments).map { row in
            let outcome = InboundOutcome(status: InboundMessage.Status(rawValue: row["status"]) ?? .failed, detail: row["detail"],
                                         accountId: row["account_id"], events: StoredJSON.value(row["events"]).arrayValue ?? [],
                                         orderingKey: row["ordering_key"], orderingAt: row["ordering_at"])
            return InboundMessage(id: row["id"], source: row["source"], externalId: row["external_id"], vendorType: row["vendor_type"],
                                  receivedAt: row["received_at"], updatedAt: row["updated_at"], headers: InboundMessage.headers(json: row["headers"]),
                                  body: row["body"], outcome: outcome, attempts: row["attempts"])
        }
    }
}
