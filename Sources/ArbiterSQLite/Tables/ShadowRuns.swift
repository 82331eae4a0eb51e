import ArbiterApp
import ArbiterCore
import Foundation
import GRDB

/// Shadow runs: what a version in shadow would have decided differently on live events.
public enum ShadowRuns {
    public static func record(_ db: Database, _ difference: ShadowDifference) throws {
        try db.execute(sql: """
            INSERT INTO shadow_differences (shadow_id, event_id, decision_id, transition, outcome_changed, actual, shadow, at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [difference.run, difference.eventId, difference.decisionId, difference.transition,
                             difference.outcomeChanged, CanonicalJSON.string(difference.actual),
                             CanonicalJSON.string(difference.shadow), Timestamp.format(difference.at)])
    }

    /// The report of a policy's latest shadow run (of `version`, when given): how many live
    /// events it saw, how many decisions it would have changed, counts by transition, and the
    /// differences newest first (`limit` of them, before the difference id `before`).
    /// Nil when the policy never ran in shadow.
    public static func report(_ db: Database, name: String, version: String?, limit: Int, before: Int64?,
                              now: Date = Date()) throws -> ShadowReport? {
        var sql = "SELECT * FROM policy_shadows WHERE name = ?"
        var arguments: StatementArguments = [name]
        if let version {
            sql += " AND version = ?"
            arguments += [version]
        }
        guard let run = try Row.fetchOne(db, sql: sql + " ORDER BY id DESC LIMIT 1", arguments: arguments) else { return nil }
        let id: Int64 = run["id"]
        let startedAt: String = run["started_at"]
        let stoppedAt: String? = run["stopped_at"]
        let types = (try? JSONValue.parse(Data((run["event_types"] as String).utf8)))?.arrayValue?.compactMap(\.stringValue) ?? []
        // Every event of its types decided while the run was on went through the shadow.
        let placeholders = types.map { _ in "?" }.joined(separator: ", ")
        let evaluated = types.isEmpty ? 0 : try Int.fetchOne(db, sql: """
            SELECT COUNT(*) FROM events WHERE type IN (\(placeholders)) AND received_at >= ? AND received_at < ?
            """, arguments: StatementArguments(types) + [startedAt, stoppedAt ?? Timestamp.format(now.addingTimeInterval(1))]) ?? 0
        var transitions: [String: Int64] = [:]
        var outcomeChanges: Int64 = 0, detailChanges: Int64 = 0
        for row in try Row.fetchAll(db, sql: """
            SELECT transition, outcome_changed, COUNT(*) AS n FROM shadow_differences WHERE shadow_id = ? GROUP BY transition, outcome_changed
            """, arguments: [id]) {
            let n: Int64 = row["n"]
            if row["outcome_changed"] as Bool {
                outcomeChanges += n
                transitions[row["transition"]] = n
            } else {
                detailChanges += n
            }
        }
        let rows = try Row.fetchAll(db, sql: """
            SELECT d.*, e.type, e.account_id, e.correlation_id, e.amount_minor, e.currency FROM shadow_differences d
            JOIN events e ON e.id = d.event_id
            WHERE d.shadow_id = ? AND d.id < ? ORDER BY d.id DESC LIMIT ?
            """, arguments: [id, before ?? Int64.max, limit])
        let differences = rows.map { row in
            ShadowReport.Difference(id: row["id"], eventId: row["event_id"], decisionId: row["decision_id"], eventType: row["type"],
                                    accountId: row["account_id"], correlationId: row["correlation_id"], amountMinor: row["amount_minor"],
                                    currency: row["currency"], transition: row["transition"], outcomeChanged: row["outcome_changed"],
                                    actual: Decisions.json(row["actual"]), shadow: Decisions.json(row["shadow"]), at: row["at"])
        }
        var nextCursor: String?
        if rows.count == limit, let last = rows.last { nextCursor = String(last["id"] as Int64) }
        return ShadowReport(name: name, version: run["version"], activeVersion: try PolicyVersions.activeVersion(db, name: name),
                            running: stoppedAt == nil, eventTypes: types, startedBy: run["started_by"], startedAt: startedAt,
                            stoppedBy: run["stopped_by"], stoppedAt: stoppedAt, evaluated: evaluated, outcomeChanges: outcomeChanges,
                            otherChanges: detailChanges, transitions: transitions, differences: differences, nextCursor: nextCursor)
    }
}
