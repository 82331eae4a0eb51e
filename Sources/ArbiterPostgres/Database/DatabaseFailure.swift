import PostgresNIO

/// What PostgreSQL said when a statement failed, readable in logs and problems. postgres-nio's
/// own error describes itself generically (to keep query text out of logs by default); this
/// keeps the server's message and SQLSTATE, never the statement or its values.
public struct DatabaseFailure: Error, CustomStringConvertible, Sendable {
    public let sqlState: String?
    public let message: String

    init(_ error: PSQLError) {
        sqlState = error.serverInfo?[.sqlState]
        message = error.serverInfo?[.message] ?? "\(error.code)"
    }

    public var description: String {
        "PostgreSQL: \(message)" + (sqlState.map { " (SQLSTATE \($0))" } ?? "")
    }

    /// Runs `body`, turning postgres-nio's errors into this.
    static func readable<T>(_ body: () async throws -> sending T) async throws -> sending T {
        do {
            return try await body()
        } catch let error as PSQLError {
            throw DatabaseFailure(error)
        }
    }
}
