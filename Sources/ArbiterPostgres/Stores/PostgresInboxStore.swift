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

    // Mapping versions are written in their own transactions: also at start, before the
    // committer runs.
    func publishMapping(_ version: MappingVersion, audit: AuditDraft) async throws -> MappingVersion {
        try await backend.transaction { unit in
            if try await !Self.insert(unit, version) {
                guard let existing = try await Self.mappingVersions(unit, source: version.source, version: version.version).first else {
                    throw Refusal.conflict("mapping \(version.source)/\(version.version) conflicts but cannot be read")
                }
                return existing
            }
            unit.audit(audit)
            return version
        }
    }

    func activateMapping(source: String, version: String, by actor: String, at: Date, audit: AuditDraft) async throws {
        try await backend.transaction { unit in
            try await Self.makeLive(unit, source: source, version: version, by: actor, at: Timestamp.format(at))
            // Other instances watch the live-configuration generation (policies' and mappings').
            _ = try await PGPolicyVersions.bumpGeneration(unit)
            unit.audit(audit)
        }
    }

    func mappingVersions(source: String) async throws -> [MappingVersion] {
        try await backend.read { unit in try await Self.mappingVersions(unit, source: source, version: nil) }
    }

    func mappingVersion(source: String, version: String) async throws -> MappingVersion? {
        try await backend.read { unit in try await Self.mappingVersions(unit, source: source, version: version).first }
    }

    func activeMappings() async throws -> [String: String] {
        try await backend.read { unit in
            var active: [String: String] = [:]
            for row in try await unit.rows("SELECT source, version FROM mapping_active") { active[try row["source"]] = try row["version"] }
            return active
        }
    }

    func saveSource(_ source: StoredSource, mapping: MappingVersion?, audit: AuditDraft) async throws -> Bool {
        try await backend.transaction { unit in
            if let version = mapping {
                _ = try await Self.insert(unit, version)
                try await Self.makeLive(unit, source: version.source, version: version.version, by: source.updatedBy, at: source.updatedAt)
            }
            // xmax is 0 for a row this statement inserted, not for one it updated.
            let inserted = try await unit.value("""
                INSERT INTO inbound_sources (name, definition, updated_by, updated_at)
                VALUES (\(source.name), \(CanonicalJSON.string(source.definition)), \(source.updatedBy), \(source.updatedAt))
                ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, updated_by = excluded.updated_by,
                    updated_at = excluded.updated_at
                RETURNING (xmax = 0)
                """, as: Bool.self) ?? false
            // Other instances watch the live-configuration generation.
            _ = try await PGPolicyVersions.bumpGeneration(unit)
            unit.audit(audit)
            return inserted
        }
    }

    func removeSource(name: String, audit: AuditDraft) async throws -> Bool {
        try await backend.transaction { unit in
            guard try await unit.value("DELETE FROM inbound_sources WHERE name = \(name) RETURNING name", as: String.self) != nil else {
                return false
            }
            try await unit.run("DELETE FROM mapping_active WHERE source = \(name)")
            _ = try await PGPolicyVersions.bumpGeneration(unit)
            unit.audit(audit)
            return true
        }
    }

    /// Stores a mapping version; false when that version was stored already (it is kept as it is).
    static func insert(_ unit: WorkUnit, _ version: MappingVersion) async throws -> Bool {
        try await unit.value("""
            INSERT INTO mapping_versions (source, version, file, script, tests, published_by, published_at)
            VALUES (\(version.source), \(version.version), \(version.file), \(version.script), \(version.tests.map(CanonicalJSON.string)),
                    \(version.publishedBy), \(version.publishedAt))
            ON CONFLICT (source, version) DO NOTHING
            RETURNING version
            """, as: String.self) != nil
    }

    static func makeLive(_ unit: WorkUnit, source: String, version: String, by actor: String, at: String) async throws {
        try await unit.run("""
            INSERT INTO mapping_active (source, version, activated_by, activated_at) VALUES (\(source), \(version), \(actor), \(at))
            ON CONFLICT (source) DO UPDATE SET version = excluded.version, activated_by = excluded.activated_by,
                activated_at = excluded.activated_at
            """)
    }

    func storedSources() async throws -> [StoredSource] {
        try await backend.read { unit in
            try await unit.rows("SELECT name, definition, updated_by, updated_at FROM inbound_sources ORDER BY name").map { row in
                StoredSource(name: try row["name"], definition: StoredJSON.value(try row["definition"] as String),
                             updatedBy: try row["updated_by"], updatedAt: try row["updated_at"])
            }
        }
    }

    func recentMessages(source: String, limit: Int) async throws -> [InboundMessage] {
        try await backend.read { unit in
            var sql = SQL("SELECT * FROM inbound_messages WHERE source = ")
            sql.append(sql.bind(source) + " ORDER BY id DESC LIMIT \(max(0, limit))")
            return try await Self.fetch(unit, sql)
        }
    }

    static func mappingVersions(_ unit: WorkUnit, source: String, version: String?) async throws -> [MappingVersion] {
        let rows = try await unit.rows("""
            SELECT v.source, v.version, v.file, v.script, v.tests, v.published_by, v.published_at, a.version IS NOT NULL AS live
            FROM mapping_versions v LEFT JOIN mapping_active a ON a.source = v.source AND a.version = v.version
            WHERE v.source = \(source) AND (\(version)::text IS NULL OR v.version = \(version))
            ORDER BY v.published_at DESC, v.version
            """)
        return try rows.map { row in
            MappingVersion(source: try row["source"], version: try row["version"], file: try row["file"], script: try row["script"],
                           tests: (try row["tests"] as String?).map { StoredJSON.value($0) }, publishedBy: try row["published_by"],
                           publishedAt: try row["published_at"], active: try row["live"])
        }
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

    func lookup(source: String, externalId: String, customers: [CustomerRef]) async throws
        -> (message: InboundMessage?, accounts: [CustomerRef: String]) {
        try await backend.read { unit in
            let message = try await Self.fetch(unit, where: "source", source, and: "external_id", externalId)
            var accounts: [CustomerRef: String] = [:]
            for customer in customers {
                accounts[customer] = try await unit.value(
                    "SELECT account_id FROM account_refs WHERE system = \(customer.system) AND ref = \(customer.ref)", as: String.self)
            }
            return (message, accounts)
        }
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
