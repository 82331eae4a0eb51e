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

    /// Connects to `url` (`postgres://USER@HOST[:PORT]/DB`, or `postgres://USER@/DB?host=/socket/dir`
    /// for a Unix socket) and migrates the schema.
    public static func connect(url: String, logger: Logger = Logger(label: "arbiter.postgres")) async throws -> PostgresBackend {
        let backend = PostgresBackend(configuration: try PostgresURL(url).configuration, logger: logger)
        do {
            try await PostgresMigrations.migrate(backend.client, logger: logger)
        } catch {
            backend.close()
            throw error
        }
        return backend
    }

    init(configuration: PostgresClient.Configuration, logger: Logger) {
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.logger = logger
        self.running = Task { await client.run() }
    }

    /// Closes every connection.
    public func close() {
        running.cancel()
    }

    /// Runs `body` in one transaction (READ COMMITTED): committed when it returns, rolled back
    /// when it throws.
    func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> sending T) async throws -> sending T {
        do {
            return try await client.withTransaction(logger: logger) { connection in try await body(connection) }
        } catch let error as PostgresTransactionError {
            // What the body threw (a refusal) is the error, not the transaction's wrapper.
            if let thrown = error.closureError { throw thrown }
            throw error
        }
    }
}

/// A database URL as `arbiter serve --database` takes it.
struct PostgresURL {
    let configuration: PostgresClient.Configuration

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
    }
}
