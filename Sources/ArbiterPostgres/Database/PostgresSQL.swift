import Foundation
import Logging
import PostgresNIO

/// A statement built piece by piece (filters that are there or not): its text with `$n`
/// placeholders and the values bound to them. Values never enter the text.
struct SQL {
    private(set) var text: String
    private(set) var binds = PostgresBindings()

    init(_ text: String) { self.text = text }

    /// Binds `value` and returns its placeholder.
    mutating func bind<T: PostgresNonThrowingEncodable>(_ value: T?) -> String {
        if let value { binds.append(value) } else { binds.appendNull() }
        return "$\(binds.count)"
    }

    mutating func append(_ more: String) { text += more }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: text, binds: binds) }
}

/// A row read by column name, the way the stores read them.
struct Row {
    let cells: PostgresRandomAccessRow

    subscript<T: PostgresDecodable>(_ column: String) -> T {
        get throws { try cells[column].decode(T.self) }
    }
}

extension PostgresConnection {
    /// Every row of `query`.
    func rows(_ query: PostgresQuery, _ logger: Logger) async throws -> [Row] {
        var rows: [Row] = []
        for try await row in try await self.query(query, logger: logger) { rows.append(Row(cells: row.makeRandomAccess())) }
        return rows
    }

    /// The first row of `query`, if any.
    func row(_ query: PostgresQuery, _ logger: Logger) async throws -> Row? {
        try await rows(query, logger).first
    }

    /// The first column of the first row, if any (nil for no row or NULL).
    func value<T: PostgresDecodable>(_ query: PostgresQuery, _ logger: Logger, as type: T.Type = T.self) async throws -> T?
        where T._DecodableType == T {
        for try await row in try await self.query(query, logger: logger) {
            return try row.makeRandomAccess()[0].decode(T?.self)
        }
        return nil
    }

    /// Runs a statement.
    func run(_ query: PostgresQuery, _ logger: Logger) async throws {
        for try await _ in try await self.query(query, logger: logger) {}
    }
}
