import ArbiterCore
import Foundation
import GRDB

/// A stored event with its decision as made: what a backtest replays. Only what every row
/// needs is read; the ids, times and reasons of the few rows a report shows are read
/// afterwards by row id (``Backtests/details(_:rows:)``).
public struct ReplayedDecision: Sendable {
    /// The rowids of the event and of its decision.
    public let eventRow: Int64
    public let decisionRow: Int64
    public let type: EventType?
    /// The envelope as submitted, the context as evaluated, every policy's verdict and the
    /// decision's actions: their stored JSON text as bytes (backtests read them without making
    /// strings of them).
    public let body: [UInt8]
    public let context: [UInt8]
    public let policies: [UInt8]
    public let actions: [UInt8]
    public let outcome: String
    public let queue: String?
}

/// What a report shows of a replayed decision, read by row id once the replay is done.
public struct ReplayedDetails: Sendable {
    public let eventId: String
    public let decisionId: String
    public let receivedAt: String
    public let accountId: String
    public let amountMinor: Int64?
    public let currency: String?
    /// The decision's reasons (JSON text).
    public let reasons: String
}

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
    /// insertion order, which the type-and-time index gives without sorting), at most
    /// `limit`, in one read transaction (one consistent snapshot), without holding more than
    /// one row in memory.
    public static func replay(_ db: Database, types: [String], from: Date, to: Date, limit: Int?,
                              _ body: (ReplayedDecision) throws -> Void) throws {
        guard !types.isEmpty else { return }
        let cursor = try Row.fetchCursor(db, sql: """
            SELECT e.rowid, d.rowid, e.type, e.body, d.context, d.policies, d.actions, d.outcome, d.queue
            FROM events e JOIN decisions d ON d.event_id = e.id
            WHERE e.type IN (\(types.map { _ in "?" }.joined(separator: ", "))) AND e.received_at >= ? AND e.received_at < ?
            ORDER BY e.received_at, e.rowid LIMIT ?
            """, arguments: StatementArguments(types) + [Timestamp.format(from), Timestamp.format(to), limit ?? -1])
        let types = EventType.allCases.map { (type: $0, bytes: Array($0.rawValue.utf8)) }
        while let row = try cursor.next() {
            func bytes(_ index: Int) throws -> [UInt8] {
                try row.withUnsafeData(atIndex: index) { data in data?.withUnsafeBytes { [UInt8]($0) } ?? [] }
            }
            let type = try row.withUnsafeData(atIndex: 2) { data in
                data?.withUnsafeBytes { raw -> EventType? in
                    guard let base = raw.baseAddress else { return nil }
                    return types.first { $0.bytes.count == raw.count && memcmp($0.bytes, base, raw.count) == 0 }?.type
                }
            }
            try body(ReplayedDecision(eventRow: row[0], decisionRow: row[1], type: type, body: try bytes(3), context: try bytes(4),
                                      policies: try bytes(5), actions: try bytes(6), outcome: row[7], queue: row[8]))
        }
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
    public static func job(_ db: Database, name: String, id: String) throws -> JSONValue? {
        try Row.fetchOne(db, sql: "SELECT * FROM backtests WHERE id = ? AND name = ?", arguments: [id, name]).map { row in
            .object([
                "id": .string(row["id"]), "name": .string(row["name"]), "version": .string(row["version"]),
                "from": .string(row["range_from"]), "to": .string(row["range_to"]),
                "limit": (row["row_limit"] as Int64?).map(JSONValue.int) ?? .null,
                "requested_by": .string(row["requested_by"]), "requested_at": .string(row["requested_at"]),
                "status": .string(row["status"]), "total": .int(row["total"]),
                "finished_at": Decisions.text(row["finished_at"]), "error": Decisions.text(row["error"]),
                "report": Decisions.json(row["report"]),
            ])
        }
    }
}
