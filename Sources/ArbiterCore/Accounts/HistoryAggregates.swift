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
