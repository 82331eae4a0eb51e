/// What a policy evaluates an event against: `ctx` minus `config`, which the engine adds.
public struct PolicyContext: Sendable, Hashable, Codable {
    public var account: AccountSnapshot
    public var history: HistoryAggregates
    /// Evaluation time in Unix seconds: policies have no clock of their own.
    public var now: Int64

    public init(account: AccountSnapshot, history: HistoryAggregates = HistoryAggregates(), now: Int64) {
        self.account = account
        self.history = history
        self.now = now
    }
}

extension PolicyContext {
    /// Reads a context file or request body: `{"account": {...}, "history": {...}, "now": 1763800000}`.
    /// Every part is optional: no `account` means an account Arbiter has never seen (status
    /// `unknown`); an `account` without `status` is `active`; missing aggregates are zero.
    public init(json: JSONValue?, accountId: String, defaultNow: Int64) throws {
        let fields = json?.objectValue ?? [:]
        if let json, json.objectValue == nil { throw Refusal.invalid([FieldError("context", "must be an object")]) }
        var errors: [FieldError] = []
        var account = AccountSnapshot.unknown(accountId)
        if let a = fields["account"] {
            guard let af = a.objectValue else { throw Refusal.invalid([FieldError("context.account", "must be an object")]) }
            account.status = .active
            func int(_ key: String) -> Int64? {
                guard let v = af[key], v != .null else { return nil }
                if let i = v.intValue { return i }
                errors.append(FieldError("context.account.\(key)", "must be an integer"))
                return nil
            }
            func text(_ key: String) -> String? {
                guard let v = af[key], v != .null else { return nil }
                if let s = v.stringValue { return s }
                errors.append(FieldError("context.account.\(key)", "must be a string"))
                return nil
            }
            if let id = text("id") { account.id = id }
            if let status = text("status") {
                if let s = AccountStatus(rawValue: status) { account.status = s }
                else { errors.append(FieldError("context.account.status", "must be one of \(AccountStatus.allCases.map(\.rawValue).joined(separator: ", "))")) }
            }
            account.tier = text("tier")
            account.currency = text("currency")
            if let c = account.currency, Currency(c) == nil { errors.append(FieldError("context.account.currency", "must be an ISO 4217 currency code")) }
            account.mrrMinor = int("mrr_minor") ?? 0
            account.openBalanceMinor = int("open_balance_minor") ?? 0
            account.daysPastDue = int("days_past_due") ?? 0
            if let e = af["entitlements"] {
                if let items = e.arrayValue, items.allSatisfy({ $0.stringValue != nil }) {
                    account.entitlements = items.compactMap(\.stringValue)
                } else {
                    errors.append(FieldError("context.account.entitlements", "must be an array of strings"))
                }
            }
        }
        var history = HistoryAggregates()
        if let h = fields["history"] {
            guard let hf = h.objectValue else { throw Refusal.invalid([FieldError("context.history", "must be an object")]) }
            let keys: [(String, WritableKeyPath<HistoryAggregates, Int64>)] = [
                ("credits_30d_minor", \.credits30dMinor), ("credits_90d_minor", \.credits90dMinor),
                ("credits_365d_minor", \.credits365dMinor), ("credit_count_90d", \.creditCount90d),
                ("refunds_90d_minor", \.refunds90dMinor), ("open_disputes", \.openDisputes),
                ("failed_payments_30d", \.failedPayments30d),
            ]
            for (key, path) in keys {
                guard let v = hf[key] else { continue }
                if let i = v.intValue { history[keyPath: path] = i }
                else { errors.append(FieldError("context.history.\(key)", "must be an integer")) }
            }
        }
        var now = defaultNow
        if let n = fields["now"] {
            if let i = n.intValue { now = i } else { errors.append(FieldError("context.now", "must be Unix seconds (an integer)")) }
        }
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        self.init(account: account, history: history, now: now)
    }
}

extension PolicyContext {
    /// The context as recorded with a decision (and read back by backtests): the same shape
    /// `init(json:accountId:defaultNow:)` reads.
    public var json: JSONValue {
        .object(["account": account.json, "history": history.json, "now": .int(now)])
    }
}
