import ArbiterApp
import Foundation
import GRDB

extension AppDatabase {
    /// The rows of `select` (which must end in a `rowid > ?` condition and `ORDER BY rowid`
    /// with its `LIMIT ?` supplied here), a page at a time, each row's last column its rowid
    /// (not handed to `body`). For copying a store whose service is stopped: each page is its
    /// own read.
    public func pages(_ select: String, pageSize: Int = 1_000,
                      _ body: @Sendable ([[StoredValue]]) async throws -> Void) async throws {
        var after: Int64 = 0
        while true {
            let start = after
            let rows = try await writer.read { db in
                try Row.fetchAll(db, sql: select, arguments: [start, pageSize]).map { row in
                    row.databaseValues.map(Self.stored)
                }
            }
            guard let last = rows.last, case .int(let rowid) = last.last else { return }
            try await body(rows.map { Array($0.dropLast()) })
            after = rowid
            if rows.count < pageSize { return }
        }
    }

    static func stored(_ value: DatabaseValue) -> StoredValue {
        switch value.storage {
        case .null: .null
        case .int64(let n): .int(n)
        case .double(let d): .double(d)
        case .string(let s): .text(s)
        case .blob(let data): .text(String(decoding: data, as: UTF8.self))
        }
    }
}
