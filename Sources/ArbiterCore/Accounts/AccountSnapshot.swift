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
    /// - `case.escalated`, `payment.refunded` and request events change nothing (a refund made in
    ///   the billing system is often one Arbiter approved: counting it again would double it).
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
        case .creditRequested, .refundRequested, .invoiceDisputed, .entitlementRequested, .caseEscalated, .paymentRefunded:
            return nil
        }
        return next == self ? nil : next
    }
}
