import Foundation
import Logging
import Testing
import PostgresNIO

@testable import ArbiterPostgres

/// The throwaway PostgreSQL cluster these tests use: `ARBITER_TEST_POSTGRES`, the socket
/// directory of a running cluster — `Scripts/test.sh` starts one with `Scripts/postgres.sh`
/// for the run and stops it afterwards. Without it the PostgreSQL suites do not run
/// (`swift test` alone needs no database). Each test gets a database of its own.
enum PostgresCluster {
    static let socketDirectory = ProcessInfo.processInfo.environment["ARBITER_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 }

    static var available: Bool { socketDirectory != nil }

    /// A new, empty database; its URL.
    static func freshDatabase() async throws -> String {
        let socketDirectory = try #require(socketDirectory)
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let admin = PostgresBackend(configuration: try PostgresURL("postgres://postgres@/postgres?host=\(socketDirectory)").configuration,
                                    logger: Logger(label: "test"))
        defer { admin.close() }
        try await admin.client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: admin.logger)
        return "postgres://postgres@/\(name)?host=\(socketDirectory)"
    }
}
