import ArbiterCore
import Foundation
import Logging
import PostgresNIO

/// One PostgreSQL database shared by every Arbiter instance: the connection pool
/// (`PostgresClient`, run for as long as the backend lives) and the schema, migrated once however
/// many instances start together.
public final class PostgresBackend: Sendable {
    let client: PostgresClient
    let logger: Logger
    private let running: Task<Void, Never>
    /// Says when the pool's `run()` has been entered.
    private let started: AsyncStream<Void>

    /// Connects to `url` (`postgres://USER@HOST[:PORT]/DB`, or `postgres://USER@/DB?host=/socket/dir`
    /// for a Unix socket) and migrates the schema (unless `migrate` is false: verification
    /// changes nothing).
    public static func connect(url: String, migrate: Bool = true,
                               logger: Logger = Logger(label: "arbiter.postgres")) async throws -> PostgresBackend {
        let backend = PostgresBackend(configuration: try PostgresURL(url).configuration, logger: logger)
        do {
            // Connections are asked for once the pool runs (postgres-nio warns of a request made
            // before, needlessly: it waits).
            for await _ in backend.started { break }
            guard migrate else { return backend }
            try await PostgresMigrations.migrate(backend.client, logger: logger)
        } catch {
            backend.close()
            if let failure = error as? PSQLError { throw DatabaseFailure(failure) }
            throw error
        }
        return backend
    }

    init(configuration: PostgresClient.Configuration, logger: Logger) {
        let client = PostgresClient(configuration: configuration, backgroundLogger: EarlyLeaseFilter.logger(logger))
        self.client = client
        self.logger = logger
        let (started, starting) = AsyncStream<Void>.makeStream()
        self.started = started
        self.running = Task {
            starting.finish()
            await client.run()
        }
    }

    /// Closes every connection.
    public func close() {
        running.cancel()
    }

    /// Runs `body` as one unit of work in a transaction (READ COMMITTED): the audit entries it
    /// queued are appended to the chain last, so the chain's head is locked only from then to
    /// the commit; committed when `body` returns, rolled back when it throws.
    func transaction<T: Sendable>(_ body: (WorkUnit) async throws -> sending T) async throws -> sending T {
        let logger = logger
        do {
            return try await client.withTransaction(logger: logger) { connection in
                let unit = WorkUnit(connection: connection, logger: logger)
                let result = try await body(unit)
                try await unit.flushStaged()
                try await PostgresAuditChain.append(unit.auditDrafts, on: connection, logger: logger)
                return result
            }
        } catch let error as PostgresTransactionError {
            // What the body threw (a refusal) is the error, not the transaction's wrapper.
            let thrown = error.closureError ?? error.commitError ?? error.beginError ?? error
            if let failure = thrown as? PSQLError { throw DatabaseFailure(failure) }
            throw thrown
        } catch let error as PSQLError {
            throw DatabaseFailure(error)
        }
    }

    /// Runs `body` on one connection outside a transaction (reads).
    func read<T: Sendable>(_ body: (WorkUnit) async throws -> sending T) async throws -> sending T {
        let logger = logger
        return try await DatabaseFailure.readable {
            try await client.withConnection { connection in try await body(WorkUnit(connection: connection, logger: logger)) }
        }
    }

    /// Runs `body` in a read-only transaction that sees one snapshot of the database however
    /// long it reads (exports, backtests): rows committed meanwhile are not in it.
    func snapshot<T: Sendable>(_ body: (WorkUnit) async throws -> sending T) async throws -> sending T {
        let logger = logger
        return try await DatabaseFailure.readable { try await client.withConnection { connection in
            let unit = WorkUnit(connection: connection, logger: logger)
            try await unit.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            do {
                let result = try await body(unit)
                try await unit.run("COMMIT")
                return result
            } catch {
                try? await unit.run("ROLLBACK")
                throw error
            }
        } }
    }

    /// Whether the database answers now.
    public func isReachable() async -> Bool {
        (try? await read { try await $0.value("SELECT 1::bigint", as: Int64.self) }) == 1
    }
}

/// One unit of work on one connection: its queries, the rows it stages and the audit entries
/// it appends (written when the unit ends, see ``PostgresBackend/transaction(_:)``), and the
/// account contexts read for it at its start.
final class WorkUnit {
    let connection: PostgresConnection
    let logger: Logger
    private(set) var auditDrafts: [AuditDraft] = []
    private var staged = StagedRows()
    /// Contexts read at the start of a group commit, each good until the unit changes its account.
    private var contexts: [String: PolicyContext] = [:]
    /// Whether events are staged with the rest of a decision (a group commit of several units).
    var stagesEvents = false
    private var stagedEvents: Set<String> = []

    init(connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    func rows(_ query: PostgresQuery) async throws -> [Row] { try await connection.rows(query, logger) }
    func row(_ query: PostgresQuery) async throws -> Row? { try await connection.row(query, logger) }
    func value<T: PostgresDecodable>(_ query: PostgresQuery, as type: T.Type = T.self) async throws -> T? where T._DecodableType == T {
        try await connection.value(query, logger, as: type)
    }
    func run(_ query: PostgresQuery) async throws { try await connection.run(query, logger) }

    /// Appends an entry to the audit chain when the unit ends.
    func audit(_ draft: AuditDraft) { auditDrafts.append(draft) }

    /// Reads the contexts of these accounts in one statement, for ``context(accountId:now:)``.
    func prefetchContexts(_ requests: [(account: String, now: Date)]) async throws {
        contexts = try await PGAccounts.contexts(self, requests)
    }

    /// The account's context as this unit sees it now: read at the unit's start unless the
    /// unit has changed the account since (then read again, after writing what is staged).
    func context(accountId: String, now: Date) async throws -> PolicyContext {
        if let context = contexts[accountId], context.now == Int64(now.timeIntervalSince1970.rounded(.down)) { return context }
        try await flushStaged()
        return try await PGAccounts.context(self, accountId: accountId, now: now)
    }

    /// The unit wrote something an account's context counts.
    func changed(account: String) {
        contexts[account] = nil
    }

    /// Rows written when the unit ends (or before anything reads them back).
    func stage(account: String, _ rows: (inout StagedRows) -> Void) {
        rows(&staged)
        changed(account: account)
    }

    /// Stages the event `source` + `id` unless this unit stages it already (then false).
    func stageEvent(source: String, id: String) -> Bool {
        stagedEvents.insert("\(source)\u{0}\(id)").inserted
    }

    func flushStaged() async throws {
        guard !staged.isEmpty else { return }
        try await staged.flush(self)
    }

    func audit(actor: String, kind: String, subject: String, correlationId: String? = nil, data: JSONValue = .object([:]),
               at: Date = Date()) {
        audit(AuditDraft(actor: actor, kind: kind, subject: subject, correlationId: correlationId, at: Timestamp.format(at),
                         dataJSON: CanonicalJSON.encode(data)))
    }

    /// Serialises with every other unit that locks one of these accounts (in this instance or
    /// another) until the transaction ends: what a decision reads of an account cannot change
    /// before it commits. Locks are taken in one order (by id), so two units never wait for
    /// each other; take them before any other lock.
    func lockAccounts(_ ids: some Sequence<String>) async throws {
        let accounts = Array(Set(ids))
        guard !accounts.isEmpty else { return }
        // One statement: the subquery's order is the order the locks are taken in.
        try await run("""
            SELECT pg_advisory_xact_lock(hashtextextended(a, 0)) FROM (SELECT unnest(\(accounts)::text[]) AS a ORDER BY 1) AS s
            """)
    }
}

/// A database URL as `arbiter serve --database` takes it: `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`
/// or, for a Unix socket, `postgres://USER@/DB?host=/socket/dir`; `pool=N` caps this instance's
/// connections (default 20).
struct PostgresURL {
    private(set) var configuration: PostgresClient.Configuration

    init(_ text: String) throws {
        guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme ?? "") else {
            throw Refusal.invalid("database", "must be a postgres:// URL such as postgres://arbiter@db.example.com/arbiter")
        }
        let user = url.user ?? "postgres"
        let database = url.path.split(separator: "/").first.map(String.init)
        if let socketDirectory = url.queryItems?.first(where: { $0.name == "host" })?.value, socketDirectory.hasPrefix("/") {
            configuration = PostgresClient.Configuration(unixSocketPath: socketDirectory + "/.s.PGSQL.\(url.port ?? 5432)",
                                                         username: user, password: url.password, database: database)
        } else {
            guard let host = url.host, !host.isEmpty else {
                throw Refusal.invalid("database", "names no host (for a Unix socket: postgres://USER@/DB?host=/socket/dir)")
            }
            configuration = PostgresClient.Configuration(host: host, port: url.port ?? 5432, username: user, password: url.password,
                                                         database: database, tls: .disable)
        }
        if let pool = url.queryItems?.first(where: { $0.name == "pool" })?.value {
            guard let size = Int(pool), (1...1000).contains(size) else {
                throw Refusal.invalid("database", "pool must be a number of connections from 1 to 1000, got '\(pool)'")
            }
            configuration.options.maximumConnections = size
        }
    }
}
