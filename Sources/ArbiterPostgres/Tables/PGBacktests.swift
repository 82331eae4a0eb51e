import ArbiterApp
import ArbiterCore
import Foundation
import PostgresNIO

/// Backtest jobs and the events they replay (the embedded store's `Backtests`). A job names
/// the instance running it: a restarting instance interrupts its own jobs, never another's.
enum PGBacktests {
    static func count(_ unit: WorkUnit, types: [String], range: BacktestRange) async throws -> Int {
        guard !types.isEmpty else { return 0 }
        let n = Int(try await unit.value("""
            SELECT COUNT(*) FROM events WHERE type = ANY(\(types)::text[])
              AND received_at >= \(Timestamp.format(range.from)) AND received_at < \(Timestamp.format(range.to))
            """, as: Int64.self) ?? 0)
        return range.limit.map { min($0, n) } ?? n
    }

    /// Streams the decided events of `types` in the range, oldest first (ties in insertion
    /// order), `chunkSize` rows at a time, in the caller's snapshot. `body` may block: it runs
    /// off the cooperative pool, and the rows wait for it (the stream applies back-pressure).
    static func replay(_ unit: WorkUnit, types: [String], range: BacktestRange, chunkSize: Int,
                       _ body: @escaping @Sendable (ReplayChunk) throws -> Void) async throws {
        guard !types.isEmpty else { return }
        let limit = range.limit.map(Int64.init)
        let rows = try await unit.connection.query("""
            SELECT e.row_id, d.row_id, e.type, d.outcome, d.queue, e.body, d.context, d.policies, d.actions
            FROM events e JOIN decisions d ON d.event_id = e.id
            WHERE e.type = ANY(\(types)::text[]) AND e.received_at >= \(Timestamp.format(range.from))
              AND e.received_at < \(Timestamp.format(range.to))
            ORDER BY e.received_at, e.row_id LIMIT \(limit)
            """, logger: unit.logger)
        var read = 0
        var chunk = ReplayChunk(first: 0, capacity: chunkSize)
        for try await (eventRow, decisionRow, type, outcome, queue, eventBody, context, policies, actions)
            in rows.decode((Int64, Int64, String, String, String?, String, String, String, String).self) {
            func append(_ text: String) -> Range<Int> {
                let start = chunk.bytes.count
                chunk.bytes.append(contentsOf: text.utf8)
                return start..<chunk.bytes.count
            }
            chunk.rows.append(ReplayChunk.Row(
                eventRow: eventRow, decisionRow: decisionRow, type: EventType(rawValue: type), outcome: DecisionOutcome(rawValue: outcome),
                queue: queue, body: append(eventBody), context: append(context), policies: append(policies), actions: append(actions)))
            read += 1
            if chunk.rows.count == chunkSize {
                try await offPool(chunk, body)
                chunk = ReplayChunk(first: read, capacity: chunkSize)
            }
        }
        if !chunk.rows.isEmpty { try await offPool(chunk, body) }
    }

    /// Runs a body that may block on a thread of its own, not on one of the few the
    /// cooperative pool has.
    private static func offPool(_ chunk: ReplayChunk, _ body: @escaping @Sendable (ReplayChunk) throws -> Void) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            DispatchQueue.global().async { continuation.resume(with: Result { try body(chunk) }) }
        }
    }

    static func details(_ unit: WorkUnit, rows: [(event: Int64, decision: Int64)]) async throws -> [Int64: ReplayedDetails] {
        var found: [Int64: ReplayedDetails] = [:]
        for (event, decision) in rows {
            guard let row = try await unit.row("""
                SELECT e.id AS event_id, d.id AS decision_id, e.received_at, e.account_id, e.amount_minor, e.currency, d.reasons
                FROM events e, decisions d WHERE e.row_id = \(event) AND d.row_id = \(decision)
                """) else { continue }
            found[event] = ReplayedDetails(eventId: try row["event_id"], decisionId: try row["decision_id"],
                                           receivedAt: try row["received_at"], accountId: try row["account_id"],
                                           amountMinor: try row["amount_minor"], currency: try row["currency"], reasons: try row["reasons"])
        }
        return found
    }

    static func start(_ unit: WorkUnit, id: String, name: String, version: String, range: BacktestRange, total: Int,
                      by actor: String, instance: String, at now: Date) async throws {
        try await unit.run("""
            INSERT INTO backtests (id, name, version, range_from, range_to, row_limit, requested_by, requested_at, status, total, instance)
            VALUES (\(id), \(name), \(version), \(Timestamp.format(range.from)), \(Timestamp.format(range.to)),
                    \(range.limit.map(Int64.init)), \(actor), \(Timestamp.format(now)), 'running', \(Int64(total)), \(instance))
            """)
    }

    static func job(_ unit: WorkUnit, name: String, id: String) async throws -> BacktestJob? {
        try await unit.row("SELECT * FROM backtests WHERE id = \(id) AND name = \(name)").map { row in
            let report = StoredJSON.value(try row["report"])
            return BacktestJob(id: try row["id"], name: try row["name"], version: try row["version"], from: try row["range_from"],
                               to: try row["range_to"], limit: try row["row_limit"], requestedBy: try row["requested_by"],
                               requestedAt: try row["requested_at"], status: BacktestJob.Status(rawValue: try row["status"]) ?? .failed,
                               total: try row["total"], finishedAt: try row["finished_at"], error: try row["error"],
                               report: report == .null ? nil : report)
        }
    }
}
