import ArbiterCore
import Foundation
import GRDB

/// Account snapshots and the history aggregates policies see as `ctx.account` / `ctx.history`.
public enum AccountRows {
    /// The stored snapshot, or `unknown` for an account Arbiter has never seen.
    public static func snapshot(_ db: Database, id: String) throws -> AccountSnapshot {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM accounts WHERE id = ?"), arguments: [id]) else {
            return .unknown(id)
        }
        let entitlementsText: String = row["entitlements"] ?? "[]"
        let entitlements = (try? JSONValue.parse(Data(entitlementsText.utf8)))?.arrayValue?.compactMap(\.stringValue) ?? []
        return AccountSnapshot(id: id, status: AccountStatus(rawValue: row["status"]) ?? .unknown, tier: row["tier"],
                               mrrMinor: row["mrr_minor"], currency: row["currency"], openBalanceMinor: row["open_balance_minor"],
                               daysPastDue: row["days_past_due"], entitlements: entitlements)
    }

    /// Stores a snapshot (insert or replace) in the caller's transaction and audits the change:
    /// `account.synced` from the sync API, `account.updated` when a signal event changed it.
    public static func save(_ db: Database, _ account: AccountSnapshot, actor: String, at: Date = Date(),
                            kind: String = "account.synced", correlationId: String? = nil, cause: String? = nil,
                            externalRefs: [String: String]? = nil) throws {
        var chain = try AuditChain(db)
        try save(db, account, actor: actor, at: at, kind: kind, correlationId: correlationId, cause: cause, externalRefs: externalRefs,
                 chain: &chain)
    }

    /// Replaces the account's references in other systems; one held by another account is a
    /// conflict (nothing is written).
    static func replaceRefs(_ db: Database, accountId: String, _ refs: [String: String]) throws {
        for (system, ref) in refs.sorted(by: { $0.key < $1.key }) {
            if let holder = try String.fetchOne(db, sql: "SELECT account_id FROM account_refs WHERE system = ? AND ref = ? AND account_id <> ?",
                                                arguments: [system, ref, accountId]) {
                throw Refusal.conflict("external ref \(system) = \(ref) belongs to account \(holder); remove it there first")
            }
        }
        try db.execute(sql: "DELETE FROM account_refs WHERE account_id = ?", arguments: [accountId])
        for (system, ref) in refs {
            try db.execute(sql: "INSERT INTO account_refs (system, ref, account_id) VALUES (?, ?, ?)", arguments: [system, ref, accountId])
        }
    }

    static func refs(_ db: Database, accountId: String) throws -> [String: String] {
        var refs: [String: String] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT system, ref FROM account_refs WHERE account_id = ?", arguments: [accountId]) {
            refs[row["system"]] = row["ref"]
        }
        return refs
    }

    /// Stores a snapshot, appending its audit entry to `chain`.
    public static func save(_ db: Database, _ account: AccountSnapshot, actor: String, at: Date,
                            kind: String, correlationId: String?, cause: String?, externalRefs: [String: String]? = nil,
                            chain: inout AuditChain) throws {
        let entitlements = CanonicalJSON.string(.array(account.entitlements.map(JSONValue.string)))
        try db.cachedStatement(sql: """
                INSERT INTO accounts (id, status, tier, mrr_minor, currency, open_balance_minor, days_past_due, entitlements, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET status = excluded.status, tier = excluded.tier, mrr_minor = excluded.mrr_minor,
                    currency = excluded.currency, open_balance_minor = excluded.open_balance_minor,
                    days_past_due = excluded.days_past_due, entitlements = excluded.entitlements, updated_at = excluded.updated_at
                """).execute(arguments: [account.id, account.status.rawValue, account.tier, account.mrrMinor, account.currency,
                        account.openBalanceMinor, account.daysPastDue, entitlements, Timestamp.format(at)])
        var data = account.json.objectValue ?? [:]
        data.removeValue(forKey: "id")
        if let cause { data["event_id"] = .string(cause) }
        if let externalRefs { data["external_refs"] = .object(externalRefs.mapValues(JSONValue.string)) }
        try chain.append(db, actor: actor, kind: kind, subject: account.id, correlationId: correlationId, data: .object(data), at: at)
    }

    /// Aggregates over Arbiter's own records as of `now`:
    /// - approved credits and refunds: money actions in the outbox (written when a decision or a
    ///   reviewer approves) that were not cancelled, by creation time;
    /// - open disputes: `invoice.disputed` events whose review is not decided yet;
    /// - failed payments: `payment.failed` events that occurred in the last 30 days.
    public static func history(_ db: Database, accountId: String, now: Date) throws -> HistoryAggregates {
        func since(_ days: Double) -> String { Timestamp.format(now.addingTimeInterval(-days * 86_400)) }
        let row = try Row.fetchOne(
            db.cachedStatement(sql: """
                SELECT
                    COALESCE(SUM(CASE WHEN type = 'credit_memo' AND created_at >= ? THEN amount_minor END), 0) AS c30,
                    COALESCE(SUM(CASE WHEN type = 'credit_memo' AND created_at >= ? THEN amount_minor END), 0) AS c90,
                    COALESCE(SUM(CASE WHEN type = 'credit_memo' AND created_at >= ? THEN amount_minor END), 0) AS c365,
                    COUNT(CASE WHEN type = 'credit_memo' AND created_at >= ? THEN 1 END) AS n90,
                    COALESCE(SUM(CASE WHEN type = 'refund' AND created_at >= ? THEN amount_minor END), 0) AS r90
                FROM outbox_actions
                WHERE account_id = ? AND status != 'cancelled' AND type IN ('credit_memo', 'refund')
                """),
            arguments: [since(30), since(90), since(365), since(90), since(90), accountId])
        var history = HistoryAggregates()
        history.credits30dMinor = row?["c30"] ?? 0
        history.credits90dMinor = row?["c90"] ?? 0
        history.credits365dMinor = row?["c365"] ?? 0
        history.creditCount90d = row?["n90"] ?? 0
        history.refunds90dMinor = row?["r90"] ?? 0
        history.openDisputes = try Int64.fetchOne(
            db.cachedStatement(sql: """
                SELECT COUNT(*) FROM review_items r JOIN events e ON e.id = r.event_id
                WHERE r.account_id = ? AND e.type = 'invoice.disputed' AND r.state IN ('open', 'claimed', 'escalated')
                """),
            arguments: [accountId]) ?? 0
        history.failedPayments30d = try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT COUNT(*) FROM events WHERE account_id = ? AND type = 'payment.failed' AND occurred_at >= ?"),
            arguments: [accountId, since(30)]) ?? 0
        return history
    }

    /// What policies see for an event on this account at `now` (read in one transaction).
    public static func context(_ db: Database, accountId: String, now: Date) throws -> PolicyContext {
        PolicyContext(account: try snapshot(db, id: accountId), history: try history(db, accountId: accountId, now: now),
                      now: Int64(now.timeIntervalSince1970.rounded(.down)))
    }
}
