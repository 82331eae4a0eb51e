import ArbiterCore
import Foundation
import PostgresNIO

/// Account snapshots and the history aggregates policies see as `ctx.account` / `ctx.history`
/// (the same rules as the embedded store's `AccountRows`), each read in one round trip.
enum PGAccounts {
    /// What policies see for an event on this account at `now`: the snapshot and the history.
    static func context(_ unit: WorkUnit, accountId: String, now: Date) async throws -> PolicyContext {
        guard let context = try await contexts(unit, [(accountId, now)])[accountId] else {
            throw Refusal.conflict("the context of account \(accountId) could not be read")
        }
        return context
    }

    /// The contexts of several accounts, each as of its own time, in one statement (a group
    /// commit reads every account it decides for at once).
    static func contexts(_ unit: WorkUnit, _ requests: [(account: String, now: Date)]) async throws -> [String: PolicyContext] {
        guard !requests.isEmpty else { return [:] }
        func since(_ now: Date, _ days: Double) -> String { Timestamp.format(now.addingTimeInterval(-days * 86_400)) }
        let accounts = requests.map(\.account)
        let d30 = requests.map { since($0.now, 30) }, d90 = requests.map { since($0.now, 90) }, d365 = requests.map { since($0.now, 365) }
        let rows = try await unit.rows("""
            SELECT r.n, a.id, a.status, a.tier, a.mrr_minor, a.currency, a.open_balance_minor, a.days_past_due, a.entitlements,
                   o.c30, o.c90, o.c365, o.n90, o.r90, d.disputes, f.failed
            FROM unnest(\(accounts)::text[], \(d30)::text[], \(d90)::text[], \(d365)::text[]) WITH ORDINALITY AS r(account, s30, s90, s365, n)
            LEFT JOIN accounts a ON a.id = r.account
            CROSS JOIN LATERAL (
                SELECT COALESCE(SUM(amount_minor) FILTER (WHERE type = 'credit_memo' AND created_at >= r.s30), 0)::bigint AS c30,
                       COALESCE(SUM(amount_minor) FILTER (WHERE type = 'credit_memo' AND created_at >= r.s90), 0)::bigint AS c90,
                       COALESCE(SUM(amount_minor) FILTER (WHERE type = 'credit_memo' AND created_at >= r.s365), 0)::bigint AS c365,
                       COUNT(*) FILTER (WHERE type = 'credit_memo' AND created_at >= r.s90) AS n90,
                       COALESCE(SUM(amount_minor) FILTER (WHERE type = 'refund' AND created_at >= r.s90), 0)::bigint AS r90
                FROM outbox_actions
                WHERE account_id = r.account AND status <> 'cancelled' AND type IN ('credit_memo', 'refund')) o
            CROSS JOIN LATERAL (
                SELECT COUNT(*) AS disputes FROM review_items ri JOIN events e ON e.id = ri.event_id
                WHERE ri.account_id = r.account AND e.type = 'invoice.disputed' AND ri.state IN ('open', 'claimed', 'escalated')) d
            CROSS JOIN LATERAL (
                SELECT COUNT(*) AS failed FROM events
                WHERE account_id = r.account AND type = 'payment.failed' AND occurred_at >= r.s30) f
            """)
        var contexts: [String: PolicyContext] = [:]
        for row in rows {
            let request = requests[Int(try row["n"] as Int64) - 1]
            var history = HistoryAggregates()
            history.credits30dMinor = try row["c30"]
            history.credits90dMinor = try row["c90"]
            history.credits365dMinor = try row["c365"]
            history.creditCount90d = try row["n90"]
            history.refunds90dMinor = try row["r90"]
            history.openDisputes = try row["disputes"]
            history.failedPayments30d = try row["failed"]
            contexts[request.account] = PolicyContext(account: try snapshot(row, id: request.account), history: history,
                                                      now: Int64(request.now.timeIntervalSince1970.rounded(.down)))
        }
        return contexts
    }

    /// The snapshot in a row of `accounts` columns (the `id` column NULL: never seen).
    static func snapshot(_ row: Row, id: String) throws -> AccountSnapshot {
        guard try row["id"] as String? != nil else { return .unknown(id) }
        let entitlementsText: String = try row["entitlements"]
        let entitlements = (try? JSONValue.parse(Data(entitlementsText.utf8)))?.arrayValue?.compactMap(\.stringValue) ?? []
        return AccountSnapshot(id: id, status: AccountStatus(rawValue: try row["status"]) ?? .unknown, tier: try row["tier"],
                               mrrMinor: try row["mrr_minor"], currency: try row["currency"],
                               openBalanceMinor: try row["open_balance_minor"], daysPastDue: try row["days_past_due"],
                               entitlements: entitlements)
    }

    static func snapshot(_ unit: WorkUnit, id: String) async throws -> AccountSnapshot {
        guard let row = try await unit.row("""
            SELECT id, status, tier, mrr_minor, currency, open_balance_minor, days_past_due, entitlements FROM accounts WHERE id = \(id)
            """) else { return .unknown(id) }
        return try snapshot(row, id: id)
    }

    /// Stores a snapshot (insert or replace) and audits the change: `account.synced` from the
    /// sync API, `account.updated` when a signal event or a delivered action changed it.
    static func save(_ unit: WorkUnit, _ account: AccountSnapshot, actor: String, at: Date, kind: String = "account.synced",
                     correlationId: String? = nil, cause: String? = nil, externalRefs: [String: String]? = nil) async throws {
        let entitlements = CanonicalJSON.string(.array(account.entitlements.map(JSONValue.string)))
        try await unit.run("""
            INSERT INTO accounts (id, status, tier, mrr_minor, currency, open_balance_minor, days_past_due, entitlements, updated_at)
            VALUES (\(account.id), \(account.status.rawValue), \(account.tier), \(account.mrrMinor), \(account.currency),
                    \(account.openBalanceMinor), \(account.daysPastDue), \(entitlements), \(Timestamp.format(at)))
            ON CONFLICT (id) DO UPDATE SET status = excluded.status, tier = excluded.tier, mrr_minor = excluded.mrr_minor,
                currency = excluded.currency, open_balance_minor = excluded.open_balance_minor,
                days_past_due = excluded.days_past_due, entitlements = excluded.entitlements, updated_at = excluded.updated_at
            """)
        unit.changed(account: account.id)
        var data = account.json.objectValue ?? [:]
        data.removeValue(forKey: "id")
        if let cause { data["event_id"] = .string(cause) }
        if let externalRefs { data["external_refs"] = .object(externalRefs.mapValues(JSONValue.string)) }
        unit.audit(actor: actor, kind: kind, subject: account.id, correlationId: correlationId, data: .object(data), at: at)
    }

    /// Replaces the account's references in other systems; one held by another account is a
    /// conflict (the transaction is rolled back).
    static func replaceRefs(_ unit: WorkUnit, accountId: String, _ refs: [String: String]) async throws {
        let systems = refs.keys.sorted(), values = systems.map { refs[$0]! }
        if let row = try await unit.row("""
            SELECT system, ref, account_id FROM account_refs
            WHERE (system, ref) IN (SELECT * FROM unnest(\(systems)::text[], \(values)::text[])) AND account_id <> \(accountId)
            LIMIT 1
            """) {
            let system: String = try row["system"], ref: String = try row["ref"], holder: String = try row["account_id"]
            throw Refusal.conflict("external ref \(system) = \(ref) belongs to account \(holder); remove it there first")
        }
        try await unit.run("DELETE FROM account_refs WHERE account_id = \(accountId)")
        try await unit.run("""
            INSERT INTO account_refs (system, ref, account_id) SELECT s, r, \(accountId) FROM unnest(\(systems)::text[], \(values)::text[]) AS t(s, r)
            """)
    }

    static func refs(_ unit: WorkUnit, accountId: String) async throws -> [String: String] {
        var refs: [String: String] = [:]
        for row in try await unit.rows("SELECT system, ref FROM account_refs WHERE account_id = \(accountId)") {
            refs[try row["system"]] = try row["ref"] as String
        }
        return refs
    }
}
