import ArbiterCore
import Foundation
import GRDB

/// An action the dispatcher is about to hand to the ERP.
public struct PendingAction: Sendable, Hashable {
    public let id: String
    public let accountId: String
    public let type: String
    /// The JSON body sent (canonical JSON: the action, its id, account, correlation and decision).
    public let payload: String
    /// Attempts so far.
    public let attempts: Int
    public let createdAt: Date
}

/// What recording an attempt left the action as.
public struct RecordedAttempt: Sendable {
    public let status: String
    public let accountId: String
    public let createdAt: Date
    /// The line of this account may move on (delivered), or waits (retry), or is held (dead).
    public let nextAttemptAt: Date?
}

/// An operator's command refused.
public enum OutboxRefusal: Error, Sendable, Equatable {
    case notFound
    case conflict(String)
}

/// The outbox as the dispatcher and operators see it. Each account's actions form a line in
/// insertion (rowid) order; only the head of a line is sent, so an account's actions reach the
/// ERP in order, and a dead head holds its line until an operator retries or cancels it.
extension Outbox {
    /// The heads of account lines that are due at `now`, oldest first, at most `limit`,
    /// leaving out `busy` accounts (an action of theirs is in flight).
    public static func due(_ db: Database, now: Date, skipping busy: Set<String>, limit: Int) throws -> [PendingAction] {
        let rows = try Row.fetchAll(db.cachedStatement(sql: """
            SELECT o.id, o.account_id, o.type, o.payload, o.attempts, o.created_at
            FROM (SELECT account_id, MIN(rowid) AS head FROM outbox_actions WHERE status IN ('pending', 'dead') GROUP BY account_id) h
            JOIN outbox_actions o ON o.rowid = h.head
            WHERE o.status = 'pending' AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= ?)
            ORDER BY h.head LIMIT ?
            """), arguments: [Timestamp.format(now), limit + busy.count])
        var actions: [PendingAction] = []
        for row in rows where actions.count < limit {
            let account: String = row["account_id"]
            if busy.contains(account) { continue }
            actions.append(PendingAction(id: row["id"], accountId: account, type: row["type"], payload: row["payload"],
                                         attempts: row["attempts"], createdAt: Timestamp.parse(row["created_at"]) ?? now))
        }
        return actions
    }

    /// When the earliest waiting retry at the head of a line falls due, if any.
    public static func nextRetry(_ db: Database) throws -> Date? {
        try String.fetchOne(db.cachedStatement(sql: """
            SELECT MIN(o.next_attempt_at)
            FROM (SELECT MIN(rowid) AS head FROM outbox_actions WHERE status IN ('pending', 'dead') GROUP BY account_id) h
            JOIN outbox_actions o ON o.rowid = h.head
            WHERE o.status = 'pending' AND o.next_attempt_at IS NOT NULL
            """)).flatMap(Timestamp.parse)
    }

    public static func isPending(_ db: Database, id: String) throws -> Bool {
        try String.fetchOne(db.cachedStatement(sql: "SELECT status FROM outbox_actions WHERE id = ?"), arguments: [id]) == "pending"
    }

    /// Records one attempt in the caller's transaction and moves the action on: delivered (and
    /// its effect on the account), a retry at the backoff or the ERP's Retry-After, or a dead
    /// letter (refused, or out of attempts). Each attempt is a row and an audit entry.
    public static func record(_ db: Database, actionId: String, attempt: DeliveryAttempt, settings: DeliverySettings,
                              connector: String, now: Date, chain: inout AuditChain) throws -> RecordedAttempt {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT account_id, correlation_id, type, attempts, created_at FROM outbox_actions WHERE id = ?
            """), arguments: [actionId]) else {
            throw DatabaseError(message: "outbox action \(actionId) vanished")
        }
        let at = Timestamp.format(now)
        let attempts = (row["attempts"] as Int) + 1
        let accountId: String = row["account_id"]
        let correlationId: String = row["correlation_id"]
        let createdAt = Timestamp.parse(row["created_at"]) ?? now
        var data: [String: JSONValue] = [
            "attempt": .int(Int64(attempts)), "connector": .string(connector),
            "status_code": attempt.statusCode.map { .int(Int64($0)) } ?? .null,
            "duration_ms": .double((Double(attempt.duration.microseconds) / 1000).rounded()),
        ]
        if let error = attempt.error { data["error"] = .string(error) }
        let status: String
        let result: String
        var next: Date?
        switch attempt.result {
        case .delivered(let reference):
            status = "delivered"
            result = "delivered"
            data["reference"] = reference.map(JSONValue.string) ?? .null
            try db.cachedStatement(sql: """
                UPDATE outbox_actions SET status = 'delivered', attempts = ?, delivered_at = ?, erp_reference = ?, last_status_code = ?,
                                          next_attempt_at = NULL, last_error = NULL, updated_at = ?
                WHERE id = ?
                """).execute(arguments: [attempts, at, reference, attempt.statusCode, at, actionId])
            try chain.append(db, actor: "erp", kind: "action.delivered", subject: actionId, correlationId: correlationId,
                             data: .object(data), at: now)
            try applyEffect(db, accountId: accountId, type: row["type"], actionId: actionId, correlationId: correlationId,
                            now: now, chain: &chain)
        case .retry(let retryAfter) where attempts < settings.maxAttempts:
            status = "pending"
            result = "retry"
            let wait = min(retryAfter ?? settings.backoff(afterFailures: attempts), settings.maxDelay)
            next = now.addingTimeInterval(Double(wait.microseconds) / 1_000_000)
            data["next_attempt_at"] = .string(Timestamp.format(next!))
            try db.cachedStatement(sql: """
                UPDATE outbox_actions SET attempts = ?, next_attempt_at = ?, last_status_code = ?, last_error = ?, updated_at = ?
                WHERE id = ?
                """).execute(arguments: [attempts, Timestamp.format(next!), attempt.statusCode, describe(attempt), at, actionId])
            try chain.append(db, actor: "erp", kind: "action.attempt_failed", subject: actionId, correlationId: correlationId,
                             data: .object(data), at: now)
        case .retry, .rejected:
            status = "dead"
            result = "dead"
            let why = attempt.result == .rejected
                ? "the ERP refused it: \(describe(attempt))"
                : "gave up after \(attempts) attempts: \(describe(attempt))"
            data["reason"] = .string(why)
            try db.cachedStatement(sql: """
                UPDATE outbox_actions SET status = 'dead', attempts = ?, next_attempt_at = NULL, last_status_code = ?, last_error = ?,
                                          response_body = ?, updated_at = ?
                WHERE id = ?
                """).execute(arguments: [attempts, attempt.statusCode, why, attempt.responseBody, at, actionId])
            try chain.append(db, actor: "erp", kind: "action.dead_lettered", subject: actionId, correlationId: correlationId,
                             data: .object(data), at: now)
        }
        try db.cachedStatement(sql: """
            INSERT INTO outbox_attempts (action_id, at, duration_us, status_code, error, result) VALUES (?, ?, ?, ?, ?, ?)
            """).execute(arguments: [actionId, at, attempt.duration.microseconds, attempt.statusCode, attempt.error, result])
        return RecordedAttempt(status: status, accountId: accountId, createdAt: createdAt, nextAttemptAt: next)
    }

    static func describe(_ attempt: DeliveryAttempt) -> String {
        var parts: [String] = []
        if let code = attempt.statusCode { parts.append("HTTP \(code)") }
        if let error = attempt.error { parts.append(error) }
        if let body = attempt.responseBody, !body.isEmpty { parts.append(String(body.prefix(200))) }
        return parts.isEmpty ? "no answer" : parts.joined(separator: ": ")
    }

    /// A delivered suspension, reinstatement or entitlement change updates Arbiter's own account.
    static func applyEffect(_ db: Database, accountId: String, type: String, actionId: String, correlationId: String,
                            now: Date, chain: inout AuditChain) throws {
        guard let actionType = ActionType(rawValue: type), !actionType.movesMoney else { return }
        var feature: String?
        if actionType.needsFeature {
            let payload = try String.fetchOne(db, sql: "SELECT payload FROM outbox_actions WHERE id = ?", arguments: [actionId]) ?? "{}"
            feature = (try? JSONValue.parse(Data(payload.utf8)))?["feature"]?.stringValue
        }
        let account = try Accounts.snapshot(db, id: accountId)
        guard let changed = account.applying(delivered: actionType, feature: feature) else { return }
        try Accounts.save(db, changed, actor: "erp", at: now, kind: "account.updated", correlationId: correlationId,
                          cause: actionId, chain: &chain)
    }

    // MARK: Operators

    /// A dead letter back to pending, due now, with a fresh set of attempts.
    public static func retry(_ db: Database, id: String, by actor: String, comment: String?, now: Date) throws {
        guard let row = try Row.fetchOne(db, sql: "SELECT status, correlation_id FROM outbox_actions WHERE id = ?", arguments: [id]) else {
            throw OutboxRefusal.notFound
        }
        let status: String = row["status"]
        guard status == "dead" else {
            throw OutboxRefusal.conflict("action \(id) is \(status); only a dead letter can be retried")
        }
        let at = Timestamp.format(now)
        try db.execute(sql: """
            UPDATE outbox_actions SET status = 'pending', attempts = 0, next_attempt_at = NULL, updated_at = ? WHERE id = ?
            """, arguments: [at, id])
        try AuditLog.append(db, actor: actor, kind: "action.retried", subject: id, correlationId: row["correlation_id"],
                            data: ["comment": comment.map(JSONValue.string) ?? .null], at: now)
    }

    /// A pending or dead action that will never be sent; its account's line moves on.
    public static func cancel(_ db: Database, id: String, by actor: String, comment: String, now: Date) throws {
        guard let row = try Row.fetchOne(db, sql: "SELECT status, correlation_id FROM outbox_actions WHERE id = ?", arguments: [id]) else {
            throw OutboxRefusal.notFound
        }
        let status: String = row["status"]
        guard status == "pending" || status == "dead" else {
            throw OutboxRefusal.conflict("action \(id) is \(status); only a pending or dead action can be cancelled")
        }
        let at = Timestamp.format(now)
        try db.execute(sql: "UPDATE outbox_actions SET status = 'cancelled', next_attempt_at = NULL, updated_at = ? WHERE id = ?",
                       arguments: [at, id])
        try AuditLog.append(db, actor: actor, kind: "action.cancelled", subject: id, correlationId: row["correlation_id"],
                            data: ["comment": .string(comment), "was": .string(status)], at: now)
    }

    // MARK: Reading

    public static func list(_ db: Database, status: String?, accountId: String?, after: String?, limit: Int) throws
        -> (items: [JSONValue], next: String?) {
        var clauses: [String] = []
        var arguments: StatementArguments = []
        if let status { clauses.append("o.status = ?"); arguments += [status] }
        if let accountId { clauses.append("o.account_id = ?"); arguments += [accountId] }
        if let after { clauses.append("o.rowid > (SELECT rowid FROM outbox_actions WHERE id = ?)"); arguments += [after] }
        arguments += [limit + 1]
        let rows = try Row.fetchAll(db, sql: """
            SELECT o.* FROM outbox_actions o \(clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND "))
            ORDER BY o.rowid LIMIT ?
            """, arguments: arguments)
        let page = rows.prefix(limit)
        return (page.map(actionJSON), rows.count > limit ? page.last?["id"] : nil)
    }

    static func actionJSON(_ row: Row) -> JSONValue {
        var fields: [String: JSONValue] = [:]
        for column in ["id", "decision_id", "account_id", "correlation_id", "type", "status", "created_at"] {
            fields[column] = .string(row[column])
        }
        for column in ["review_id", "currency", "next_attempt_at", "erp_reference", "last_error", "delivered_at", "updated_at"] {
            fields[column] = Decisions.text(row[column])
        }
        fields["amount_minor"] = (row["amount_minor"] as Int64?).map(JSONValue.int) ?? .null
        fields["attempts"] = .int(row["attempts"])
        fields["last_status_code"] = (row["last_status_code"] as Int64?).map(JSONValue.int) ?? .null
        fields["payload"] = Decisions.json(row["payload"])
        return .object(fields)
    }

    /// One action with every attempt, and — when it waits behind a dead letter of its account —
    /// which one holds it.
    public static func detail(_ db: Database, id: String) throws -> JSONValue? {
        guard let row = try Row.fetchOne(db, sql: "SELECT rowid AS position, * FROM outbox_actions WHERE id = ?", arguments: [id]),
              case .object(var fields) = actionJSON(row) else { return nil }
        fields["response_body"] = Decisions.text(row["response_body"])
        fields["attempt_log"] = .array(try Row.fetchAll(db, sql: """
            SELECT at, duration_us, status_code, error, result FROM outbox_attempts WHERE action_id = ? ORDER BY id
            """, arguments: [id]).map { attempt in
                .object([
                    "at": .string(attempt["at"]), "duration_ms": .double(Double(attempt["duration_us"] as Int64) / 1000),
                    "status_code": (attempt["status_code"] as Int64?).map(JSONValue.int) ?? .null,
                    "error": Decisions.text(attempt["error"]), "result": .string(attempt["result"]),
                ])
            })
        var heldBy: String?
        if row["status"] == "pending" {
            heldBy = try String.fetchOne(db, sql: """
                SELECT id FROM outbox_actions WHERE account_id = ? AND status = 'dead' AND rowid < ? ORDER BY rowid LIMIT 1
                """, arguments: [row["account_id"], row["position"]])
        }
        fields["held_by"] = heldBy.map(JSONValue.string) ?? .null
        if let heldBy {
            fields["note"] = .string("waiting behind dead letter \(heldBy) of the same account: retry or cancel it to let this one go")
        }
        return .object(fields)
    }

    /// Actions by status, and when the oldest pending one was queued.
    public static func depth(_ db: Database) throws -> (byStatus: [String: Int], oldestPending: Date?) {
        var counts: [String: Int] = ["pending": 0, "delivered": 0, "dead": 0, "cancelled": 0]
        for row in try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM outbox_actions GROUP BY status") {
            counts[row["status"]] = row["n"]
        }
        let oldest = try String.fetchOne(db, sql: """
            SELECT MIN(o.created_at) FROM outbox_actions o WHERE o.status = 'pending'
            """).flatMap(Timestamp.parse)
        return (counts, oldest)
    }
}
