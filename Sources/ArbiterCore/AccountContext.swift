/// An account's standing as Arbiter knows it.
public enum AccountStatus: String, Sendable, Codable, CaseIterable {
    case active
    case pastDue = "past_due"
    case suspended
    case closed
    /// Arbiter has never heard of the account.
    case unknown
}

/// The account snapshot policies see as `ctx.account`.
public struct AccountSnapshot: Sendable, Hashable, Codable {
    public var id: String
    public var status: AccountStatus
    public var tier: String?
    public var mrrMinor: Int64
    public var currency: String?
    public var openBalanceMinor: Int64
    public var daysPastDue: Int64
    public var entitlements: [String]

    public init(id: String, status: AccountStatus = .unknown, tier: String? = nil, mrrMinor: Int64 = 0,
                currency: String? = nil, openBalanceMinor: Int64 = 0, daysPastDue: Int64 = 0, entitlements: [String] = []) {
        self.id = id
        self.status = status
        self.tier = tier
        self.mrrMinor = mrrMinor
        self.currency = currency
        self.openBalanceMinor = openBalanceMinor
        self.daysPastDue = daysPastDue
        self.entitlements = entitlements
    }

    /// An account Arbiter has never seen.
    public static func unknown(_ id: String) -> AccountSnapshot { AccountSnapshot(id: id) }

    enum CodingKeys: String, CodingKey {
        case id, status, tier, currency, entitlements
        case mrrMinor = "mrr_minor"
        case openBalanceMinor = "open_balance_minor"
        case daysPastDue = "days_past_due"
    }

    public var json: JSONValue {
        .object([
            "id": .string(id), "status": .string(status.rawValue), "tier": tier.map(JSONValue.string) ?? .null,
            "mrr_minor": .int(mrrMinor), "currency": currency.map(JSONValue.string) ?? .null,
            "open_balance_minor": .int(openBalanceMinor), "days_past_due": .int(daysPastDue),
            "entitlements": .array(entitlements.map(JSONValue.string)),
        ])
    }
}

/// Aggregates over Arbiter's own records that policies see as `ctx.history`.
public struct HistoryAggregates: Sendable, Hashable, Codable {
    public var credits30dMinor: Int64 = 0
    public var credits90dMinor: Int64 = 0
    public var credits365dMinor: Int64 = 0
    public var creditCount90d: Int64 = 0
    public var refunds90dMinor: Int64 = 0
    public var openDisputes: Int64 = 0
    public var failedPayments30d: Int64 = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case credits30dMinor = "credits_30d_minor"
        case credits90dMinor = "credits_90d_minor"
        case credits365dMinor = "credits_365d_minor"
        case creditCount90d = "credit_count_90d"
        case refunds90dMinor = "refunds_90d_minor"
        case openDisputes = "open_disputes"
        case failedPayments30d = "failed_payments_30d"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        credits30dMinor = try c.decodeIfPresent(Int64.self, forKey: .credits30dMinor) ?? 0
        credits90dMinor = try c.decodeIfPresent(Int64.self, forKey: .credits90dMinor) ?? 0
        credits365dMinor = try c.decodeIfPresent(Int64.self, forKey: .credits365dMinor) ?? 0
        creditCount90d = try c.decodeIfPresent(Int64.self, forKey: .creditCount90d) ?? 0
        refunds90dMinor = try c.decodeIfPresent(Int64.self, forKey: .refunds90dMinor) ?? 0
        openDisputes = try c.decodeIfPresent(Int64.self, forKey: .openDisputes) ?? 0
        failedPayments30d = try c.decodeIfPresent(Int64.self, forKey: .failedPayments30d) ?? 0
    }
}

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

extension HistoryAggregates {
    public var json: JSONValue {
        .object([
            "credits_30d_minor": .int(credits30dMinor), "credits_90d_minor": .int(credits90dMinor),
            "credits_365d_minor": .int(credits365dMinor), "credit_count_90d": .int(creditCount90d),
            "refunds_90d_minor": .int(refunds90dMinor), "open_disputes": .int(openDisputes),
            "failed_payments_30d": .int(failedPayments30d),
        ])
    }
}

extension PolicyContext {
    /// The context as recorded with a decision (and read back by backtests): the same shape
    /// `init(json:accountId:defaultNow:)` reads.
    public var json: JSONValue {
        .object(["account": account.json, "history": history.json, "now": .int(now)])
    }
}

extension AccountSnapshot {
    /// The snapshot after a signal event, or nil when the event does not change it. Policies
    /// see the snapshot *before* the event; this runs after they decided, in the same write.
    ///
    /// - `payment.failed`: an active account becomes `past_due`.
    /// - `payment.succeeded`: the open balance drops by the amount (not below zero, same
    ///   currency only); a `past_due` account with nothing left open becomes `active` with 0 days
    ///   past due. A suspended account stays suspended until a reinstatement is delivered.
    /// - `subscription.changed`: tier, MRR and currency follow the subscription; `cancel` closes
    ///   the account, `reactivate` (and any change to an account never seen) makes it `active`.
    /// - `case.escalated` and request events change nothing.
    /// Accounts Arbiter has never seen only come into being through `subscription.changed` or
    /// the account sync API: a payment signal alone does not say enough about them.
    public func applying(_ event: Event) -> AccountSnapshot? {
        var next = self
        switch event.type {
        case .paymentFailed:
            guard status == .active else { return nil }
            next.status = .pastDue
        case .paymentSucceeded:
            guard status != .unknown, let money = event.money, currency == nil || currency == money.currency.code else { return nil }
            next.openBalanceMinor = max(0, openBalanceMinor - money.amountMinor)
            if status == .pastDue && next.openBalanceMinor == 0 {
                next.status = .active
                next.daysPastDue = 0
            }
        case .subscriptionChanged:
            next.tier = event.payload["tier"]?.stringValue
            next.mrrMinor = event.payload["mrr_minor"]?.intValue ?? mrrMinor
            next.currency = event.payload["currency"]?.stringValue
            switch event.payload["change"]?.stringValue {
            case "cancel": next.status = .closed
            case "reactivate": next.status = .active
            default: if status == .unknown { next.status = .active }
            }
        case .creditRequested, .refundRequested, .invoiceDisputed, .entitlementRequested, .caseEscalated:
            return nil
        }
        return next == self ? nil : next
    }
}
