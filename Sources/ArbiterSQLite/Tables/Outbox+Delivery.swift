import ArbiterApp
import ArbiterCore
import Foundation
import GRDB

/// The outbox as the dispatcher and operators see it. Each account's actions form a line in
/// insertion (rowid) order; only the head of a line is sent, so an account's actions reach the
/// ERP in order, and a dead head holds its line until an operator retries or cancels it.
extension Outbox {
    /// The heads of account lines that are due at `now`, oldest first, at most `limit`,
    /// leaving out `busy` accounts (an action of theirs is in flight).
    public static func due(_ db: Database, target: String, now: Date, skipping busy: Set<String>, limit: Int) throws -> [PendingAction] {
        let rows = try Row.fetchAll(db.cachedStatement(sql: """
            SELECT o.id, o.account_id, o.correlation_id, o.type, o.payload, o.attempts, o.created_at
            FROM (SELECT account_id, MIN(rowid) AS head FROM outbox_actions
                  WHERE target = ? AND status IN ('pending', 'dead') GROUP BY account_id) h
            JOIN outbox_actions o ON o.rowid = h.head
            WHERE o.status = 'pending' AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= ?)
            ORDER BY h.head LIMIT ?
            """), arguments: [target, Timestamp.format(now), limit + busy.count])
        var actions: [PendingAction] = []
        for row in rows where actions.count < limit {
            let account: String = row["account_id"]
            if busy.contains(account) { continue }
            actions.append(PendingAction(id: row["id"], accountId: account, correlationId: row["correlation_id"], type: row["type"],
                                         payload: row["payload"],
                                         attempts: row["attempts"], createdAt: Timestamp.parse(row["created_at"]) ?? now))
        }
        return actions
    }

    /// When the earliest waiting retry at the head of a line falls due, if any.
    public static func nextRetry(_ db: Database, target: String) throws -> Date? {
        try String.fetchOne(db.cachedStatement(sql: """
            SELECT MIN(o.next_attempt_at)
            FROM (SELECT MIN(rowid) AS head FROM outbox_actions WHERE target = ? AND status IN ('pending', 'dead') GROUP BY account_id) h
            JOIN outbox_actions o ON o.rowid = h.head
            WHERE o.status = 'pending' AND o.next_attempt_at IS NOT NULL
            """), arguments: [target]).flatMap(Timestamp.parse)
    }

    /// Records one prepared attempt in the caller's transaction: the action's new state, the
    /// attempt row, the audit entry, and a delivered action's effect on the account.
    public static func record(_ db: Database, _ attempt: PreparedAttempt, chain: inout AuditChain) throws -> RecordedAttempt {
        let at = attempt.at
        switch attempt.status {
        case "delivered":
            try db.cachedStatement(sql: """
                UPDATE outbox_actions SET status = 'delivered', attempts = ?, delivered_at = ?, erp_reference = ?, last_status_code = ?,
                                          next_attempt_at = NULL, last_error = NULL, updated_at = ?
                WHERE id = ? AND status = 'pending'
                """).execute(arguments: [attempt.attempts, at, attempt.reference, attempt.statusCode, at, attempt.actionId])
        case "pending":
            try db.cachedStatement(sql: """
                UPDATE outbox_actions SET attempts = ?, next_attempt_at = ?, last_status_code = ?, last_error = ?, updated_at = ?
                WHERE id = ? AND status = 'pending'
                """).execute(arguments: [attempt.attempts, attempt.nextAttemptAt.map(Timestamp.format), attempt.statusCode,
                                         attempt.lastError, at, attempt.actionId])
        default:
            try db.cachedStatement(sql: """
                UPDATE outbox_actions SET status = 'dead', attempts = ?, next_attempt_at = NULL, last_status_code = ?, last_error = ?,
                                          response_body = ?, updated_at = ?
                WHERE id = ? AND status = 'pending'
                """).execute(arguments: [attempt.attempts, attempt.statusCode, attempt.lastError, attempt.responseBody, at,
                                         attempt.actionId])
        }
        try db.cachedStatement(sql: """
            INSERT INTO outbox_attempts (action_id, at, duration_us, status_code, error, result) VALUES (?, ?, ?, ?, ?, ?)
            """).execute(arguments: [attempt.actionId, at, attempt.durationMicros, attempt.statusCode, attempt.error, attempt.result])
        try chain.append(db, attempt.audit)
        if attempt.status == "delivered" {
            try applyEffect(db, accountId: attempt.accountId, type: attempt.type, actionId: attempt.actionId,
                            correlationId: attempt.correlationId, now: attempt.now, chain: &chain)
        }
        return RecordedAttempt(status: attempt.status, accountId: attempt.accountId, createdAt: attempt.createdAt,
                               nextAttemptAt: attempt.nextAttemptAt)
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
        let account = try AccountRows.snapshot(db, id: accountId)
        guard let changed = account.applying(delivered: actionType, feature: feature) else { return }
        try AccountRows.save(db, changed, actor: "erp", at: now, kind: "account.updated", correlationId: correlationId,
                          cause: actionId, chain: &chain)
    }

    // MARK: Operators

    /// A dead letter back to pending, due now, with a fresh set of attempts.
    public static func retry(_ db: Database, id: String, by actor: String, comment: String?, now: Date) throws {
        guard let row = try Row.fetchOne(db, sql: "SELECT status, correlation_id FROM outbox_actions WHERE id = ?", arguments: [id]) else {
            throw Refusal.notFound("no outbox action with id '\(id)'")
        }
        let status: String = row["status"]
        guard status == "dead" else {
            throw Refusal.conflict("action \(id) is \(status); only a dead letter can be retried")
        }
        let at = Timestamp.format(now)
        try db.execute(sql: """
            UPDATE outbox_actions SET status = 'pending', attempts = 0, next_attempt_at = NULL, updated_at = ? WHERE id = ?
            """, arguments: [at, id])
        try AuditLog.append(db, actor: actor, kind: "action.retried", subject: id, correlationId: row["correlation_id"],
                            data: ["comment": comment.map(JSONValue.string) ?? .null], at: now)
    }

    /// A dead or delivered action sent again under its key (a reconciliation's resend): back in
    /// its account's line with a fresh set of attempts. The ERP's idempotency makes a delivered
    /// action's second sending find the first document rather than post another.
    public static func resend(_ db: Database, id: String, by actor: String, comment: String?, now: Date) throws {
        guard let row = try Row.fetchOne(db, sql: "SELECT status, correlation_id, erp_reference FROM outbox_actions WHERE id = ?",
                                         arguments: [id]) else {
            throw Refusal.notFound("no outbox action with id '\(id)'")
        }
        let status: String = row["status"]
        guard status == "dead" || status == "delivered" else {
            throw Refusal.conflict("action \(id) is \(status); only a dead or delivered action can be sent again")
        }
        try db.execute(sql: """
            UPDATE outbox_actions SET status = 'pending', attempts = 0, next_attempt_at = NULL, delivered_at = NULL, updated_at = ?
            WHERE id = ?
            """, arguments: [Timestamp.format(now), id])
        try AuditLog.append(db, actor: actor, kind: "action.resent", subject: id, correlationId: row["correlation_id"],
                            data: ["comment": comment.map(JSONValue.string) ?? .null, "was": .string(status),
                                   "erp_reference": (row["erp_reference"] as String?).map(JSONValue.string) ?? .null], at: now)
    }

    /// A pending or dead action that will never be sent; its account's line moves on.
    public static func cancel(_ db: Database, id: String, by actor: String, comment: String, now: Date) throws {
        guard let row = try Row.fetchOne(db, sql: "SELECT status, correlation_id FROM outbox_actions WHERE id = ?", arguments: [id]) else {
            throw Refusal.notFound("no outbox action with id '\(id)'")
        }
        let status: String = row["status"]
        guard status == "pending" || status == "dead" else {
            throw Refusal.conflict("action \(id) is \(status); only a pending or dead action can be cancelled")
        }
        let at = Timestamp.format(now)
        try db.execute(sql: "UPDATE outbox_actions SET status = 'cancelled', next_attempt_at = NULL, updated_at = ? WHERE id = ?",
                       arguments: [at, id])
        try AuditLog.append(db, actor: actor, kind: "action.cancelled", subject: id, correlationId: row["correlation_id"],
                            data: ["comment": .string(comment), "was": .string(status)], at: now)
    }

    // MARK: Reading

    public static func list(_ db: Database, status: String?, accountId: String?, target: String? = nil, after: String?, limit: Int) throws
        -> Page<OutboxAction> {
        var clauses: [String] = []
        var arguments: StatementArguments = []
        if let status { clauses.append("o.status = ?"); arguments += [status] }
        if let accountId { clauses.append("o.account_id = ?"); arguments += [accountId] }
        if let target { clauses.append("o.target = ?"); arguments += [target] }
        if let after { clauses.append("o.rowid > (SELECT rowid FROM outbox_actions WHERE id = ?)"); arguments += [after] }
        arguments += [limit + 1]
        let rows = try Row.fetchAll(db, sql: """
            SELECT o.* FROM outbox_actions o \(clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND "))
            ORDER BY o.rowid LIMIT ?
            """, arguments: arguments)
        let page = rows.prefix(limit)
        return Page(items: page.map(action), next: rows.count > limit ? page.last?["id"] : nil)
    }

    static func action(_ row: Row) -> OutboxAction {
        var action = OutboxAction(id: row["id"], decisionId: row["decision_id"], reviewId: row["review_id"], accountId: row["account_id"],
                                  correlationId: row["correlation_id"], type: row["type"], amountMinor: row["amount_minor"],
                                  currency: row["currency"], status: row["status"], attempts: row["attempts"],
                                  nextAttemptAt: row["next_attempt_at"], erpReference: row["erp_reference"], lastError: row["last_error"],
                                  lastStatusCode: row["last_status_code"], createdAt: row["created_at"], deliveredAt: row["delivered_at"],
                                  updatedAt: row["updated_at"], payload: Decisions.json(row["payload"]))
        action.target = row["target"]
        return action
    }

    /// One action with every attempt, and — when it waits behind a dead letter of its account —
    /// which one holds it.
    public static func detail(_ db: Database, id: String) throws -> OutboxActionDetail? {
        guard let row = try Row.fetchOne(db, sql: "SELECT rowid AS position, * FROM outbox_actions WHERE id = ?", arguments: [id]) else {
            return nil
        }
        let attempts = try Row.fetchAll(db, sql: """
            SELECT at, duration_us, status_code, error, result FROM outbox_attempts WHERE action_id = ? ORDER BY id
            """, arguments: [id]).map { attempt in
                OutboxActionDetail.Attempt(at: attempt["at"], durationMicros: attempt["duration_us"], statusCode: attempt["status_code"],
                                           error: attempt["error"], result: attempt["result"])
            }
        var heldBy: String?
        if row["status"] == "pending" {
            heldBy = try String.fetchOne(db, sql: """
                SELECT id FROM outbox_actions WHERE target = ? AND account_id = ? AND status = 'dead' AND rowid < ? ORDER BY rowid LIMIT 1
                """, arguments: [row["target"], row["account_id"], row["position"]])
        }
        return OutboxActionDetail(action: action(row), responseBody: row["response_body"], attempts: attempts, heldBy: heldBy)
    }

    /// Actions by status, and when the oldest pending one was queued.
    public static func depth(_ db: Database) throws -> OutboxDepth {
        let rows = try Row.fetchAll(db, sql: """
            SELECT target, status, COUNT(*) AS n, MIN(CASE WHEN status = 'pending' THEN created_at END) AS oldest
            FROM outbox_actions GROUP BY target, status
            """)
        return OutboxDepth(rows: rows.map { (target: $0["target"], status: $0["status"], count: $0["n"], oldestPending: $0["oldest"]) })
    }
}
