import ArbiterApp
import ArbiterCore
import Foundation
import PostgresNIO

/// Approved actions waiting for the ERP (the embedded store's `Outbox`). Each account's
/// actions form a line in `seq` order; only the head of a line is sent, and a dead head holds
/// its line. Shared by the dispatchers of every instance: a head is taken with a lease
/// (`lease_owner`, `lease_until`), so two instances never send one action at once; an instance
/// that dies loses its leases when they run out, and another sends under the same key.
enum PGOutbox {
    static func insert(_ unit: WorkUnit, action: JSONValue, payload: String, decisionId: String, reviewId: String?,
                       accountId: String, correlationId: String, at: String, target: String = OutboxTarget.erp) async throws {
        guard let id = action["id"]?.stringValue, let type = action["type"]?.stringValue else {
            throw Refusal.conflict("an outbox action needs an id and a type")
        }
        unit.changed(account: accountId)
        try await unit.run("""
            INSERT INTO outbox_actions (id, decision_id, review_id, account_id, correlation_id, type, amount_minor, currency,
                                        payload, status, created_at, target)
            VALUES (\(id), \(decisionId), \(reviewId), \(accountId), \(correlationId), \(type), \(action["amount_minor"]?.intValue),
                    \(action["currency"]?.stringValue), \(payload), 'pending', \(at), \(target))
            """)
    }

    /// Takes the heads of lines that are due at `now` and leased to nobody (or to a lease run
    /// out, or to `owner` itself: an attempt it could not record), oldest first, at most
    /// `limit`, leaving out `busy` accounts (in flight in the owner); leases them to `owner`
    /// until `leaseUntil`. Rows another instance is taking at the same moment are skipped.
    static func take(_ unit: WorkUnit, target: String, now: Date, skipping busy: Set<String>, limit: Int, owner: String,
                     leaseUntil: Date) async throws -> [PendingAction] {
        let nowText = Timestamp.format(now)
        let rows = try await unit.rows("""
            WITH heads AS (SELECT MIN(seq) AS seq FROM outbox_actions WHERE target = \(target) AND status IN ('pending', 'dead')
                           GROUP BY account_id)
            SELECT o.id, o.account_id, o.correlation_id, o.type, o.payload, o.attempts, o.created_at
            FROM outbox_actions o JOIN heads h ON h.seq = o.seq
            WHERE o.status = 'pending' AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= \(nowText))
              AND (o.lease_until IS NULL OR o.lease_until <= \(nowText) OR o.lease_owner = \(owner))
              AND o.account_id <> ALL(\(Array(busy))::text[])
            ORDER BY o.seq LIMIT \(Int64(limit))
            FOR UPDATE OF o SKIP LOCKED
            """)
        let actions = try rows.map { row in
            PendingAction(id: try row["id"], accountId: try row["account_id"], correlationId: try row["correlation_id"],
                          type: try row["type"], payload: try row["payload"], attempts: Int(try row["attempts"] as Int64),
                          createdAt: Timestamp.parse(try row["created_at"]) ?? now)
        }
        if !actions.isEmpty {
            try await unit.run("""
                UPDATE outbox_actions SET lease_owner = \(owner), lease_until = \(Timestamp.format(leaseUntil))
                WHERE id = ANY(\(actions.map(\.id))::text[])
                """)
        }
        return actions
    }

    /// When the earliest waiting retry (or lease) at the head of a line runs out, if any.
    static func nextRetry(_ unit: WorkUnit, target: String) async throws -> Date? {
        try await unit.value("""
            WITH heads AS (SELECT MIN(seq) AS seq FROM outbox_actions WHERE target = \(target) AND status IN ('pending', 'dead')
                           GROUP BY account_id)
            SELECT MIN(GREATEST(o.next_attempt_at, o.lease_until)) FROM outbox_actions o JOIN heads h ON h.seq = o.seq
            WHERE o.status = 'pending' AND (o.next_attempt_at IS NOT NULL OR o.lease_until IS NOT NULL)
            """, as: String.self).flatMap(Timestamp.parse)
    }

    /// Records one attempt: the action's new state (its lease released), the attempt row, the
    /// audit entry, and a delivered action's effect on the account.
    static func record(_ unit: WorkUnit, _ attempt: PreparedAttempt) async throws -> RecordedAttempt {
        let at = attempt.at
        let statusCode = attempt.statusCode.map(Int64.init)
        let attempts = Int64(attempt.attempts)
        switch attempt.status {
        case "delivered":
            try await unit.run("""
                UPDATE outbox_actions SET status = 'delivered', attempts = \(attempts), delivered_at = \(at),
                    erp_reference = \(attempt.reference), last_status_code = \(statusCode), next_attempt_at = NULL, last_error = NULL,
                    updated_at = \(at), lease_owner = NULL, lease_until = NULL
                WHERE id = \(attempt.actionId) AND status = 'pending'
                """)
        case "pending":
            try await unit.run("""
                UPDATE outbox_actions SET attempts = \(attempts), next_attempt_at = \(attempt.nextAttemptAt.map(Timestamp.format)),
                    last_status_code = \(statusCode), last_error = \(attempt.lastError), updated_at = \(at),
                    lease_owner = NULL, lease_until = NULL
                WHERE id = \(attempt.actionId) AND status = 'pending'
                """)
        default:
            try await unit.run("""
                UPDATE outbox_actions SET status = 'dead', attempts = \(attempts), next_attempt_at = NULL,
                    last_status_code = \(statusCode), last_error = \(attempt.lastError), response_body = \(attempt.responseBody),
                    updated_at = \(at), lease_owner = NULL, lease_until = NULL
                WHERE id = \(attempt.actionId) AND status = 'pending'
                """)
        }
        try await unit.run("""
            INSERT INTO outbox_attempts (action_id, at, duration_us, status_code, error, result)
            VALUES (\(attempt.actionId), \(at), \(attempt.durationMicros), \(statusCode), \(attempt.error), \(attempt.result))
            """)
        unit.audit(attempt.audit)
        unit.changed(account: attempt.accountId)
        if attempt.status == "delivered" {
            try await applyEffect(unit, attempt)
        }
        return RecordedAttempt(status: attempt.status, accountId: attempt.accountId, createdAt: attempt.createdAt,
                               nextAttemptAt: attempt.nextAttemptAt)
    }

    /// A delivered suspension, reinstatement or entitlement change updates Arbiter's own account.
    static func applyEffect(_ unit: WorkUnit, _ attempt: PreparedAttempt) async throws {
        guard let actionType = ActionType(rawValue: attempt.type), !actionType.movesMoney else { return }
        var feature: String?
        if actionType.needsFeature {
            let payload = try await unit.value("SELECT payload FROM outbox_actions WHERE id = \(attempt.actionId)", as: String.self)
            feature = StoredJSON.value(payload)["feature"]?.stringValue
        }
        let account = try await PGAccounts.snapshot(unit, id: attempt.accountId)
        guard let changed = account.applying(delivered: actionType, feature: feature) else { return }
        try await PGAccounts.save(unit, changed, actor: "erp", at: attempt.now, kind: "account.updated",
                                  correlationId: attempt.correlationId, cause: attempt.actionId)
    }

    // MARK: Operators

    /// The action's status and correlation, locked for the rest of the unit (its account first,
    /// as every unit that changes what a decision reads takes it).
    private static func locked(_ unit: WorkUnit, id: String) async throws -> (status: String, correlationId: String) {
        guard let account = try await unit.value("SELECT account_id FROM outbox_actions WHERE id = \(id)", as: String.self) else {
            throw Refusal.notFound("no outbox action with id '\(id)'")
        }
        try await unit.lockAccounts([account])
        guard let row = try await unit.row("SELECT status, correlation_id FROM outbox_actions WHERE id = \(id) FOR UPDATE") else {
            throw Refusal.notFound("no outbox action with id '\(id)'")
        }
        return (try row["status"], try row["correlation_id"])
    }

    static func retry(_ unit: WorkUnit, id: String, by actor: String, comment: String?, now: Date) async throws {
        let (status, correlationId) = try await locked(unit, id: id)
        guard status == "dead" else {
            throw Refusal.conflict("action \(id) is \(status); only a dead letter can be retried")
        }
        try await unit.run("""
            UPDATE outbox_actions SET status = 'pending', attempts = 0, next_attempt_at = NULL, updated_at = \(Timestamp.format(now)),
                lease_owner = NULL, lease_until = NULL
            WHERE id = \(id)
            """)
        unit.audit(actor: actor, kind: "action.retried", subject: id, correlationId: correlationId,
                   data: ["comment": comment.map(JSONValue.string) ?? .null], at: now)
    }

    /// A dead or delivered action sent again under its key (a reconciliation's resend).
    static func resend(_ unit: WorkUnit, id: String, by actor: String, comment: String?, now: Date) async throws {
        let (status, correlationId) = try await locked(unit, id: id)
        guard status == "dead" || status == "delivered" else {
            throw Refusal.conflict("action \(id) is \(status); only a dead or delivered action can be sent again")
        }
        let reference = try await unit.value("SELECT erp_reference FROM outbox_actions WHERE id = \(id)", as: String.self)
        try await unit.run("""
            UPDATE outbox_actions SET status = 'pending', attempts = 0, next_attempt_at = NULL, delivered_at = NULL,
                updated_at = \(Timestamp.format(now)), lease_owner = NULL, lease_until = NULL
            WHERE id = \(id)
            """)
        unit.audit(actor: actor, kind: "action.resent", subject: id, correlationId: correlationId,
                   data: ["comment": comment.map(JSONValue.string) ?? .null, "was": .string(status),
                          "erp_reference": reference.map(JSONValue.string) ?? .null], at: now)
    }

    static func cancel(_ unit: WorkUnit, id: String, by actor: String, comment: String, now: Date) async throws {
        let (status, correlationId) = try await locked(unit, id: id)
        guard status == "pending" || status == "dead" else {
            throw Refusal.conflict("action \(id) is \(status); only a pending or dead action can be cancelled")
        }
        try await unit.run("""
            UPDATE outbox_actions SET status = 'cancelled', next_attempt_at = NULL, updated_at = \(Timestamp.format(now)) WHERE id = \(id)
            """)
        unit.audit(actor: actor, kind: "action.cancelled", subject: id, correlationId: correlationId,
                   data: ["comment": .string(comment), "was": .string(status)], at: now)
    }

    // MARK: Reading

    static func list(_ unit: WorkUnit, status: String?, accountId: String?, target: String? = nil, after: String?, limit: Int) async throws
        -> Page<OutboxAction> {
        var sql = SQL("SELECT o.* FROM outbox_actions o")
        var clauses: [String] = []
        if let status { clauses.append("o.status = \(sql.bind(status))") }
        if let accountId { clauses.append("o.account_id = \(sql.bind(accountId))") }
        if let target { clauses.append("o.target = \(sql.bind(target))") }
        if let after { clauses.append("o.seq > (SELECT seq FROM outbox_actions WHERE id = \(sql.bind(after)))") }
        if !clauses.isEmpty { sql.append(" WHERE " + clauses.joined(separator: " AND ")) }
        sql.append(" ORDER BY o.seq LIMIT \(sql.bind(Int64(limit + 1)))")
        let rows = try await unit.rows(sql.query)
        let page = try rows.prefix(limit).map(action)
        return Page(items: page, next: rows.count > limit ? page.last?.id : nil)
    }

    static func action(_ row: Row) throws -> OutboxAction {
        var action = OutboxAction(id: try row["id"], decisionId: try row["decision_id"], reviewId: try row["review_id"],
                                  accountId: try row["account_id"], correlationId: try row["correlation_id"], type: try row["type"],
                                  amountMinor: try row["amount_minor"], currency: try row["currency"], status: try row["status"],
                                  attempts: Int(try row["attempts"] as Int64), nextAttemptAt: try row["next_attempt_at"],
                                  erpReference: try row["erp_reference"], lastError: try row["last_error"],
                                  lastStatusCode: try row["last_status_code"], createdAt: try row["created_at"],
                                  deliveredAt: try row["delivered_at"], updatedAt: try row["updated_at"],
                                  payload: StoredJSON.value(try row["payload"]))
        action.target = try row["target"]
        return action
    }

    static func detail(_ unit: WorkUnit, id: String) async throws -> OutboxActionDetail? {
        guard let row = try await unit.row("SELECT * FROM outbox_actions WHERE id = \(id)") else { return nil }
        let attempts = try await unit.rows("""
            SELECT at, duration_us, status_code, error, result FROM outbox_attempts WHERE action_id = \(id) ORDER BY id
            """).map { attempt in
                OutboxActionDetail.Attempt(at: try attempt["at"], durationMicros: try attempt["duration_us"],
                                           statusCode: try attempt["status_code"], error: try attempt["error"], result: try attempt["result"])
            }
        var heldBy: String?
        if try row["status"] as String == "pending" {
            let account: String = try row["account_id"]
            let target: String = try row["target"]
            let seq: Int64 = try row["seq"]
            heldBy = try await unit.value("""
                SELECT id FROM outbox_actions WHERE target = \(target) AND account_id = \(account) AND status = 'dead' AND seq < \(seq)
                ORDER BY seq LIMIT 1
                """, as: String.self)
        }
        return OutboxActionDetail(action: try action(row), responseBody: try row["response_body"], attempts: attempts, heldBy: heldBy)
    }

    static func depth(_ unit: WorkUnit) async throws -> OutboxDepth {
        let rows = try await unit.rows("""
            SELECT target, status, COUNT(*) AS n, MIN(CASE WHEN status = 'pending' THEN created_at END) AS oldest
            FROM outbox_actions GROUP BY target, status
            """)
        return OutboxDepth(rows: try rows.map { (target: try $0["target"], status: try $0["status"], count: Int(try $0["n"] as Int64),
                                                 oldestPending: try $0["oldest"]) })
    }
}
