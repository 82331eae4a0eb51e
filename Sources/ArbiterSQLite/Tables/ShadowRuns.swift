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
                              now: Date = Date()) throws -> JSONValue? {
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
        var transitions: [String: JSONValue] = [:]
        var outcomeChanges: Int64 = 0, detailChanges: Int64 = 0
        for row in try Row.fetchAll(db, sql: """
            SELECT transition, outcome_changed, COUNT(*) AS n FROM shadow_differences WHERE shadow_id = ? GROUP BY transition, outcome_changed
            """, arguments: [id]) {
            let n: Int64 = row["n"]
            if row["outcome_changed"] as Bool {
                outcomeChanges += n
                transitions[row["transition"]] = .int(n)
            } else {
                detailChanges += n
            }
        }
        let rows = try Row.fetchAll(db, sql: """
            SELECT d.*, e.type, e.account_id, e.correlation_id, e.amount_minor, e.currency FROM shadow_differences d
            JOIN events e ON e.id = d.event_id
            WHERE d.shadow_id = ? AND d.id < ? ORDER BY d.id DESC LIMIT ?
            """, arguments: [id, before ?? Int64.max, limit])
        let differences: [JSONValue] = rows.map { row -> JSONValue in
            let amount: Int64? = row["amount_minor"]
            let currency: String? = row["currency"]
            return .object([
                "id": .int(row["id"]), "event_id": .string(row["event_id"]), "decision_id": .string(row["decision_id"]),
                "type": .string(row["type"]), "account_id": .string(row["account_id"]),
                "correlation_id": .string(row["correlation_id"]),
                "amount_minor": amount.map(JSONValue.int) ?? .null, "currency": currency.map(JSONValue.string) ?? .null,
                "transition": .string(row["transition"]), "outcome_changed": .bool(row["outcome_changed"]),
                "actual": Decisions.json(row["actual"]), "shadow": Decisions.json(row["shadow"]), "at": .string(row["at"]),
            ])
        }
        let activeVersion: JSONValue = try PolicyVersions.activeVersion(db, name: name).map(JSONValue.string) ?? .null
        let stoppedBy: String? = run["stopped_by"]
        let version: String = run["version"]
        let startedBy: String = run["started_by"]
        var nextCursor: JSONValue = .null
        if rows.count == limit, let last = rows.last { nextCursor = .string(String(last["id"] as Int64)) }
        var fields: [String: JSONValue] = [
            "name": .string(name), "version": .string(version), "active_version": activeVersion,
            "running": .bool(stoppedAt == nil), "event_types": .array(types.map(JSONValue.string)),
            "started_by": .string(startedBy), "started_at": .string(startedAt),
        ]
        fields["stopped_by"] = stoppedBy.map(JSONValue.string) ?? .null
        fields["stopped_at"] = stoppedAt.map(JSONValue.string) ?? .null
        fields["evaluated"] = .int(Int64(evaluated))
        fields["outcome_changes"] = .int(outcomeChanges)
        fields["other_changes"] = .int(detailChanges)
        fields["transitions"] = .object(transitions)
        fields["differences"] = .array(differences)
        fields["next_cursor"] = nextCursor
        return .object(fields)
    }
}
