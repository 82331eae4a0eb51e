import ArbiterApp
import ArbiterCore
import Foundation
import GRDB
import GRDBSQLite

/// Backtest jobs: a candidate version replayed over stored events, and the report.
public enum Backtests {
    /// The events of `types` received in [from, to), oldest first, at most `limit`.
    public static func count(_ db: Database, types: [String], from: Date, to: Date, limit: Int?) throws -> Int {
        guard !types.isEmpty else { return 0 }
        let n = try Int.fetchOne(db, sql: """
            SELECT COUNT(*) FROM events WHERE type IN (\(types.map { _ in "?" }.joined(separator: ", "))) AND received_at >= ? AND received_at < ?
            """, arguments: StatementArguments(types) + [Timestamp.format(from), Timestamp.format(to)]) ?? 0
        return limit.map { min($0, n) } ?? n
    }

    /// Walks the decided events of `types` received in [from, to), oldest first (ties in
    /// insertion order, which the type-and-time index gives without sorting), at most `limit`,
    /// in one read transaction (one consistent snapshot), `chunkSize` rows at a time.
    ///
    /// This loop steps the statement with the SQLite C API and copies each row's text columns
    /// straight into the chunk's buffer: a backtest reads hundreds of thousands of rows, and
    /// going through GRDB's row values cost two allocations per column.
    public static func replay(_ db: Database, types: [String], from: Date, to: Date, limit: Int?, chunkSize: Int,
                              _ body: (ReplayChunk) throws -> Void) throws {
        guard !types.isEmpty else { return }
        let statement = try db.makeStatement(sql: """
            SELECT e.rowid, d.rowid, e.type, d.outcome, d.queue, e.body, d.context, d.policies, d.actions
            FROM events e JOIN decisions d ON d.event_id = e.id
            WHERE e.type IN (\(types.map { _ in "?" }.joined(separator: ", "))) AND e.received_at >= ? AND e.received_at < ?
            ORDER BY e.received_at, e.rowid LIMIT ?
            """)
        try statement.setArguments(StatementArguments(types) + [Timestamp.format(from), Timestamp.format(to), limit ?? -1])
        let raw = statement.sqliteStatement
        defer { sqlite3_reset(raw) }
        let eventTypes = EventType.allCases.map { (value: $0, bytes: Array($0.rawValue.utf8)) }
        let outcomes = [DecisionOutcome.approve, .review, .reject, .recorded].map { (value: $0, bytes: Array($0.rawValue.utf8)) }
        func text(_ column: Int32) -> UnsafeRawBufferPointer {
            // sqlite3_column_blob before sqlite3_column_bytes, as SQLite asks.
            let start = sqlite3_column_blob(raw, column)
            return UnsafeRawBufferPointer(start: start, count: start == nil ? 0 : Int(sqlite3_column_bytes(raw, column)))
        }
        func match<T>(_ column: Int32, _ known: [(value: T, bytes: [UInt8])]) -> T? {
            let bytes = text(column)
            return known.first { $0.bytes.elementsEqual(bytes) }?.value
        }
        var read = 0
        var chunk = ReplayChunk(first: 0, capacity: chunkSize)
        while true {
            let code = sqlite3_step(raw)
            if code == SQLITE_DONE { break }
            guard code == SQLITE_ROW else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
            }
            func append(_ column: Int32) -> Range<Int> {
                let start = chunk.bytes.count
                chunk.bytes.append(contentsOf: text(column))
                return start..<chunk.bytes.count
            }
            let queue = sqlite3_column_type(raw, 4) == SQLITE_NULL ? nil : String(decoding: text(4), as: UTF8.self)
            chunk.rows.append(ReplayChunk.Row(
                eventRow: sqlite3_column_int64(raw, 0), decisionRow: sqlite3_column_int64(raw, 1),
                type: match(2, eventTypes), outcome: match(3, outcomes), queue: queue,
                body: append(5), context: append(6), policies: append(7), actions: append(8)))
            read += 1
            if chunk.rows.count == chunkSize {
                try body(chunk)
                chunk = ReplayChunk(first: read, capacity: chunkSize)
            }
        }
        if !chunk.rows.isEmpty { try body(chunk) }
    }

    /// The details a report shows of some replayed decisions, by their rows.
    public static func details(_ db: Database, rows: [(event: Int64, decision: Int64)]) throws -> [Int64: ReplayedDetails] {
        var found: [Int64: ReplayedDetails] = [:]
        for (event, decision) in rows {
            guard let row = try Row.fetchOne(db, sql: """
                SELECT e.id, d.id, e.received_at, e.account_id, e.amount_minor, e.currency, d.reasons
                FROM events e, decisions d WHERE e.rowid = ? AND d.rowid = ?
                """, arguments: [event, decision]) else { continue }
            found[event] = ReplayedDetails(eventId: row[0], decisionId: row[1], receivedAt: row[2], accountId: row[3],
                                           amountMinor: row[4], currency: row[5], reasons: row[6])
        }
        return found
    }

    public static func start(_ db: Database, id: String, name: String, version: String, from: Date, to: Date, limit: Int?,
                             total: Int, by actor: String, at now: Date = Date()) throws {
        try db.execute(sql: """
            INSERT INTO backtests (id, name, version, range_from, range_to, row_limit, requested_by, requested_at, status, total)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?)
            """, arguments: [id, name, version, Timestamp.format(from), Timestamp.format(to), limit, actor, Timestamp.format(now), total])
    }

    public static func finish(_ db: Database, id: String, report: JSONValue, at now: Date = Date()) throws {
        try db.execute(sql: "UPDATE backtests SET status = 'done', report = ?, finished_at = ? WHERE id = ?",
                       arguments: [CanonicalJSON.string(report), Timestamp.format(now), id])
    }

    public static func fail(_ db: Database, id: String, error: String, at now: Date = Date()) throws {
        try db.execute(sql: "UPDATE backtests SET status = 'failed', error = ?, finished_at = ? WHERE id = ?",
                       arguments: [error, Timestamp.format(now), id])
    }

    /// Jobs left running by a previous process (it stopped or crashed): they will not finish.
    public static func interruptRunning(_ db: Database, at now: Date = Date()) throws {
        try db.execute(sql: "UPDATE backtests SET status = 'interrupted', finished_at = ? WHERE status = 'running'",
                       arguments: [Timestamp.format(now)])
    }

    /// A job with its report when done (nil when unknown).
    public static func job(_ db: Database, name: String, id: String) throws -> BacktestJob? {
        try Row.fetchOne(db, sql: "SELECT * FROM backtests WHERE id = ? AND name = ?", arguments: [id, name]).map { row in
            let report = Decisions.json(row["report"])
            return BacktestJob(id: row["id"], name: row["name"], version: row["version"], from: row["range_from"], to: row["range_to"],
                               limit: row["row_limit"], requestedBy: row["requested_by"], requestedAt: row["requested_at"],
                               status: BacktestJob.Status(rawValue: row["status"]) ?? .failed, total: row["total"],
                               finishedAt: row["finished_at"], error: row["error"], report: report == .null ? nil : report)
        }
    }
}
