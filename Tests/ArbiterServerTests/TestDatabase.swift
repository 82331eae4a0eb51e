import ArbiterApp
import ArbiterCore
import ArbiterServer
import ArbiterSQLite
import Foundation
import GRDB
import Logging
import PostgresNIO
import Testing

@testable import ArbiterPostgres

/// The database a test's service stores in: the embedded SQLite file (in memory) by default,
/// or — with `ARBITER_TEST_BACKEND=postgres` and `ARBITER_TEST_POSTGRES` (the socket directory
/// of a running cluster, which `Scripts/test.sh` starts) — a new PostgreSQL database per test.
/// `Scripts/test.sh` runs the suites once on each. Tests read what was stored through this,
/// in SQL both backends understand (`?` placeholders).
enum TestDatabase: Sendable {
    case sqlite(AppDatabase)
    case postgres(PostgresBackend, url: String)

    /// `ARBITER_TEST_POSTGRES` when the suites run on PostgreSQL.
    static let postgresSockets: String? = {
        let environment = ProcessInfo.processInfo.environment
        guard environment["ARBITER_TEST_BACKEND"] == "postgres" else { return nil }
        return environment["ARBITER_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 }
    }()

    static var onPostgres: Bool { postgresSockets != nil }

    /// The socket directory of a running cluster, whichever backend the suites run on (the
    /// tests of several instances on one database need one).
    static let postgresCluster: String? = ProcessInfo.processInfo.environment["ARBITER_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 }

    /// A new, empty database of the backend under test.
    static func make() async throws -> TestDatabase {
        guard let sockets = postgresSockets else { return .sqlite(try AppDatabase.inMemory()) }
        return try await make(on: sockets)
    }

    /// A new, empty PostgreSQL database on the cluster at `sockets`.
    static func make(on sockets: String) async throws -> TestDatabase {
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let admin = PostgresBackend(configuration: try PostgresURL("postgres://postgres@/postgres?host=\(sockets)").configuration,
                                    logger: Logger(label: "test"))
        defer { admin.close() }
        try await admin.client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: admin.logger)
        let url = "postgres://postgres@/\(name)?host=\(sockets)&pool=4"
        return .postgres(try await PostgresBackend.connect(url: url, logger: Logger(label: "test")), url: url)
    }

    /// The configuration with this database as its backend.
    func configure(_ configuration: ServerConfiguration) -> ServerConfiguration {
        var configuration = configuration
        if case .postgres(_, let url) = self { configuration.databaseURL = url }
        return configuration
    }

    /// What `buildApplication` takes for the embedded backend (nil on PostgreSQL: the URL is in
    /// the configuration).
    var appDatabase: AppDatabase? {
        if case .sqlite(let database) = self { return database }
        return nil
    }

    var keys: any KeyStore {
        switch self {
        case .sqlite(let database): SQLiteKeyStore(database: database)
        case .postgres(let backend, _): PostgresKeyStore(backend: backend)
        }
    }

    func close() {
        if case .postgres(let backend, _) = self { backend.close() }
    }

    /// The first column of every row.
    func strings(_ sql: String, _ arguments: [String] = []) async throws -> [String?] {
        switch self {
        case .sqlite(let database):
            return try await database.writer.read { db in
                try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map { row -> String? in
                    let value: DatabaseValue = row[0]
                    return value.isNull ? nil : (String.fromDatabaseValue(value) ?? Int64.fromDatabaseValue(value).map(String.init))
                }
            }
        case .postgres(let backend, _):
            return try await backend.read { unit in
                try await unit.rows(Self.postgresQuery(sql, arguments)).map { Self.text($0.cells[0]) }
            }
        }
    }

    func string(_ sql: String, _ arguments: [String] = []) async throws -> String? {
        try await strings(sql, arguments).first ?? nil
    }

    func count(_ sql: String, _ arguments: [String] = []) async throws -> Int {
        Int(try await string(sql, arguments) ?? "0") ?? 0
    }

    func execute(_ sql: String, _ arguments: [String] = []) async throws {
        switch self {
        case .sqlite(let database):
            try await database.writer.write { db in try db.execute(sql: sql, arguments: StatementArguments(arguments)) }
        case .postgres(let backend, _):
            try await backend.read { unit in try await unit.run(Self.postgresQuery(sql, arguments)) }
        }
    }

    /// Makes inserts into `table` fail with `error` (as a full disk would) until ``allowInserts(into:)``.
    func refuseInserts(into table: String, error: String) async throws {
        switch self {
        case .sqlite:
            try await execute("CREATE TEMP TRIGGER refuse_\(table) BEFORE INSERT ON \(table) BEGIN SELECT RAISE(ABORT, '\(error)'); END")
        case .postgres:
            try await execute("CREATE FUNCTION refuse_\(table)() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '\(error)'; END $$")
            try await execute("CREATE TRIGGER refuse_\(table) BEFORE INSERT ON \(table) FOR EACH ROW EXECUTE FUNCTION refuse_\(table)()")
        }
    }

    func allowInserts(into table: String) async throws {
        switch self {
        case .sqlite: try await execute("DROP TRIGGER refuse_\(table)")
        case .postgres: try await execute("DROP TRIGGER refuse_\(table) ON \(table)")
        }
    }

    /// Removes what keeps the audit log append-only, as someone with write access to the
    /// database could.
    func allowAuditChanges() async throws {
        switch self {
        case .sqlite:
            try await execute("DROP TRIGGER audit_log_no_update")
            try await execute("DROP TRIGGER audit_log_no_delete")
        case .postgres:
            try await execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change")
        }
    }

    func verifyAudit() async throws -> AuditVerification {
        switch self {
        case .sqlite(let database): try await database.verifyAudit()
        case .postgres(let backend, _): try await PostgresAuditChain.verify(backend.client, logger: backend.logger)
        }
    }

    /// A cell as text, whatever its type (counts are bigint, sums numeric).
    static func text(_ cell: PostgresCell) -> String? {
        switch cell.dataType {
        case .int8: return (try? cell.decode(Int64?.self)).flatMap { $0.map { String($0) } }
        case .int4, .int2: return (try? cell.decode(Int32?.self)).flatMap { $0.map { String($0) } }
        case .numeric: return (try? cell.decode(Decimal?.self)).flatMap { $0.map { "\($0)" } }
        case .bool: return (try? cell.decode(Bool?.self)).flatMap { $0.map { $0 ? "1" : "0" } }
        default: return (try? cell.decode(String?.self)) ?? nil
        }
    }

    /// `?` placeholders as `$1`, `$2`, …
    static func postgresQuery(_ sql: String, _ arguments: [String]) -> PostgresQuery {
        var text = "", n = 0
        for character in sql {
            if character == "?" { n += 1; text += "$\(n)" } else { text.append(character) }
        }
        var bindings = PostgresBindings()
        for argument in arguments { bindings.append(argument) }
        return PostgresQuery(unsafeSQL: text, binds: bindings)
    }
}
