import ArbiterApp
import ArbiterCore
import Foundation
import PostgresNIO

/// Shadow runs: what a version in shadow would have decided differently on live events (the
/// embedded store's `ShadowRuns`).
enum PGShadowRuns {
    static func record(_ unit: WorkUnit, _ difference: ShadowDifference) async throws {
        try await unit.run("""
            INSERT INTO shadow_differences (shadow_id, event_id, decision_id, transition, outcome_changed, actual, shadow, at)
            VALUES (\(difference.run), \(difference.eventId), \(difference.decisionId), \(difference.transition),
                    \(difference.outcomeChanged), \(CanonicalJSON.string(difference.actual)), \(CanonicalJSON.string(difference.shadow)),
                    \(Timestamp.format(difference.at)))
            """)
    }

    static func report(_ unit: WorkUnit, name: String, version: String?, limit: Int, before: Int64?, now: Date) async throws
        -> ShadowReport? {
        var sql = SQL("SELECT * FROM policy_shadows")
        sql.append(" WHERE name = \(sql.bind(name))")
        if let version { sql.append(" AND version = \(sql.bind(version))") }
        sql.append(" ORDER BY id DESC LIMIT 1")
        guard let run = try await unit.row(sql.query) else { return nil }
        let id: Int64 = try run["id"]
        let startedAt: String = try run["started_at"]
        let stoppedAt: String? = try run["stopped_at"]
        let types = StoredJSON.strings(try run["event_types"])
        // Every event of its types decided while the run was on went through the shadow.
        let evaluated = types.isEmpty ? 0 : try await unit.value("""
            SELECT COUNT(*) FROM events WHERE type = ANY(\(types)::text[]) AND received_at >= \(startedAt)
              AND received_at < \(stoppedAt ?? Timestamp.format(now.addingTimeInterval(1)))
            """, as: Int64.self) ?? 0
        var transitions: [String: Int64] = [:]
        var outcomeChanges: Int64 = 0, detailChanges: Int64 = 0
        for row in try await unit.rows("""
            SELECT transition, outcome_changed, COUNT(*) AS n FROM shadow_differences WHERE shadow_id = \(id)
            GROUP BY transition, outcome_changed
            """) {
            let n: Int64 = try row["n"]
            if try row["outcome_changed"] as Bool {
                outcomeChanges += n
                transitions[try row["transition"]] = n
            } else {
                detailChanges += n
            }
        }
        let rows = try await unit.rows("""
            SELECT d.*, e.type, e.account_id, e.correlation_id, e.amount_minor, e.currency FROM shadow_differences d
            JOIN events e ON e.id = d.event_id
            WHERE d.shadow_id = \(id) AND d.id < \(before ?? Int64.max) ORDER BY d.id DESC LIMIT \(Int64(limit))
            """)
        let differences = try rows.map { row in
            ShadowReport.Difference(id: try row["id"], eventId: try row["event_id"], decisionId: try row["decision_id"],
                                    eventType: try row["type"], accountId: try row["account_id"], correlationId: try row["correlation_id"],
                                    amountMinor: try row["amount_minor"], currency: try row["currency"], transition: try row["transition"],
                                    outcomeChanged: try row["outcome_changed"], actual: StoredJSON.value(try row["actual"]),
                                    shadow: StoredJSON.value(try row["shadow"]), at: try row["at"])
        }
        let nextCursor = rows.count == limit ? differences.last.map { String($0.id) } : nil
        return ShadowReport(name: name, version: try run["version"], activeVersion: try await PGPolicyVersions.activeVersion(unit, name: name),
                            running: stoppedAt == nil, eventTypes: types, startedBy: try run["started_by"], startedAt: startedAt,
                            stoppedBy: try run["stopped_by"], stoppedAt: stoppedAt, evaluated: Int(evaluated),
                            outcomeChanges: outcomeChanges, otherChanges: detailChanges, transitions: transitions,
                            differences: differences, nextCursor: nextCursor)
    }
}
