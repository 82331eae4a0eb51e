import ArbiterCore
import Foundation
import GRDB

/// A stored event with its decision as made: what a backtest replays.
public struct ReplayedDecision: Sendable {
    public let eventId: String
    public let decisionId: String
    public let receivedAt: String
    public let type: String
    public let accountId: String
    public let amountMinor: Int64?
    public let currency: String?
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
            SELECT e.id, e.received_at, e.body, d.id, d.context, d.policies, d.outcome, d.queue, d.actions,
                   e.type, e.account_id, e.amount_minor, e.currency
            FROM events e JOIN decisions d ON d.event_id = e.id
            WHERE e.type IN (\(types.map { _ in "?" }.joined(separator: ", "))) AND e.received_at >= ? AND e.received_at < ?
            ORDER BY e.received_at, e.rowid LIMIT ?
            """, arguments: StatementArguments(types) + [Timestamp.format(from), Timestamp.format(to), limit ?? -1])
        while let row = try cursor.next() {
            func bytes(_ index: Int) throws -> [UInt8] {
                try row.withUnsafeData(atIndex: index) { data in data?.withUnsafeBytes { [UInt8]($0) } ?? [] }
            }
            try body(ReplayedDecision(eventId: row[0], decisionId: row[3], receivedAt: row[1], type: row[9], accountId: row[10],
                                      amountMinor: row[11], currency: row[12], body: try bytes(2), context: try bytes(4),
                                      policies: try bytes(5), actions: try bytes(8), outcome: row[6], queue: row[7]))
        }
    }

    /// The reasons of some decisions, by id.
    public static func reasons(_ db: Database, decisionIds: [String]) throws -> [String: String] {
        guard !decisionIds.isEmpty else { return [:] }
        var found: [String: String] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT id, reasons FROM decisions WHERE id IN (\(decisionIds.map { _ in "?" }.joined(separator: ", ")))",
                                    arguments: StatementArguments(decisionIds)) {
            found[row["id"]] = row["reasons"]
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
