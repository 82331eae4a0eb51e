import Foundation

/// The event types Arbiter understands, with the payload each one requires.
public enum EventType: String, Sendable, Codable, CaseIterable {
    case creditRequested = "credit.requested"
    case refundRequested = "refund.requested"
    case invoiceDisputed = "invoice.disputed"
    case entitlementRequested = "entitlement.requested"
    case paymentFailed = "payment.failed"
    case paymentSucceeded = "payment.succeeded"
    case subscriptionChanged = "subscription.changed"
    case caseEscalated = "case.escalated"
    /// Money given back on a payment in the billing system (a Stripe refund): Arbiter did not
    /// decide it, policies may look at it.
    case paymentRefunded = "payment.refunded"

    /// The type's position in `allCases`.
    public var ordinal: Int {
        switch self {
        case .creditRequested: 0
        case .refundRequested: 1
        case .invoiceDisputed: 2
        case .entitlementRequested: 3
        case .paymentFailed: 4
        case .paymentSucceeded: 5
        case .subscriptionChanged: 6
        case .caseEscalated: 7
        case .paymentRefunded: 8
        }
    }

    public var kind: EventKind {
        switch self {
        case .creditRequested, .refundRequested, .invoiceDisputed, .entitlementRequested: .request
        case .paymentFailed, .paymentSucceeded, .paymentRefunded, .subscriptionChanged, .caseEscalated: .signal
        }
    }

    /// Required and optional payload fields, in the order errors are reported.
    var payloadRules: [PayloadRule] {
        switch self {
        case .creditRequested:
            [.money, .text("reason"), .optionalText("case_id"), .optionalChoice("severity", Self.severities),
             .optionalText("invoice_id")]
        case .refundRequested:
            [.money, .text("payment_id"), .text("reason")]
        case .invoiceDisputed:
            [.text("invoice_id"), .money, .text("reason")]
        case .entitlementRequested:
            [.text("feature"), .text("reason")]
        case .paymentFailed:
            [.text("invoice_id"), .money, .count("attempt"), .text("failure_code")]
        case .paymentSucceeded:
            [.text("invoice_id"), .money]
        case .paymentRefunded:
            [.text("payment_id"), .money, .nonNegativeMinor("refunded_total_minor"), .optionalText("invoice_id")]
        case .subscriptionChanged:
            [.text("subscription_id"), .choice("change", ["upgrade", "downgrade", "cancel", "renew", "reactivate"]),
             .text("tier"), .nonNegativeMinor("mrr_minor"), .currency]
        case .caseEscalated:
            [.text("case_id"), .choice("severity", Self.severities)]
        }
    }

    static let severities = ["sev1", "sev2", "sev3", "sev4"]
}
