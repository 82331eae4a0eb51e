import Foundation

/// Stripe events (https://docs.stripe.com/api/events/object) as canonical events. The
/// customer (`cus_…`) resolves through the accounts' `external_refs.stripe`.
///
/// | Stripe type | canonical |
/// |---|---|
/// | `invoice.payment_failed` | `payment.failed` (invoice id, `amount_due`, currency upper-cased, `attempt_count`) |
/// | `invoice.paid`, `invoice.payment_succeeded` | `payment.succeeded` (`amount_paid`), one per invoice: Stripe sends both for one payment |
/// | `customer.subscription.updated`, `.deleted` | `subscription.changed`, in order of the event's `created` per subscription |
/// | `charge.refunded` | `payment.refunded`: what `amount_refunded` (a running total) adds beyond the highest total applied for the charge |
/// | `charge.dispute.created` | `invoice.disputed`: the dispute names only its charge, whose customer and invoice earlier messages named (``objects(_:)``) |
/// | anything else | ignored, recorded |
///
/// Fields that moved between API versions are read by the payload's `api_version`: from
/// `2025-03-31.basil` the billing period lives on the subscription's items, not on the
/// subscription (https://docs.stripe.com/changelog/basil).
public enum StripeMapping {
    /// The first API version with the billing period on subscription items.
    static let periodOnItems = "2025-03-31"

    public static func map(_ event: [String: JSONValue]) -> InboundMapping {
        guard let id = event["id"]?.stringValue, let type = event["type"]?.stringValue else {
            return .reject("not a Stripe event: it needs an id and a type")
        }
        guard let object = event["data"]?["object"]?.objectValue else { return .reject("\(id): data.object is missing") }
        guard let created = event["created"]?.intValue else { return .reject("\(id): created is missing") }
        let at = Date(timeIntervalSince1970: TimeInterval(created))
        let apiVersion = event["api_version"]?.stringValue ?? ""
        switch type {
        case "invoice.payment_failed":
            return invoice(object, eventId: id, at: at) { invoiceId, currency, customer in
                guard let due = object["amount_due"]?.intValue else { return .reject("\(id): invoice amount_due is missing") }
                let attempt = max(1, object["attempt_count"]?.intValue ?? 1)
                let code = object["last_finalization_error"]?["code"]?.stringValue ?? "invoice_payment_failed"
                return .events([MappedEvent(id: id, type: .paymentFailed, occurredAt: at, customer: customer, payload: [
                    "invoice_id": .string(invoiceId), "amount_minor": .int(due), "currency": .string(currency),
                    "attempt": .int(attempt), "failure_code": .string(code)])])
            }
        case "invoice.paid", "invoice.payment_succeeded":
            return invoice(object, eventId: id, at: at) { invoiceId, currency, customer in
                guard let paid = object["amount_paid"]?.intValue else { return .reject("\(id): invoice amount_paid is missing") }
                // One canonical event per paid invoice, whichever of the two messages comes first.
                return .events([MappedEvent(id: "\(invoiceId).paid", type: .paymentSucceeded, occurredAt: at, customer: customer, payload: [
                    "invoice_id": .string(invoiceId), "amount_minor": .int(paid), "currency": .string(currency)])])
            }
        case "charge.refunded":
            return refund(object, eventId: id, at: at)
        case "charge.dispute.created":
            return dispute(object, eventId: id, at: at)
        case "customer.subscription.updated", "customer.subscription.deleted":
            return subscription(object, previous: event["data"]?["previous_attributes"]?.objectValue ?? [:],
                                deleted: type.hasSuffix("deleted"), eventId: id, at: at, created: created, apiVersion: apiVersion)
        default:
            return .ignore("Stripe event type \(type) is not one Arbiter acts on")
        }
    }

    private static func invoice(_ object: [String: JSONValue], eventId: String, at: Date,
                                _ make: (String, String, CustomerRef) -> InboundMapping) -> InboundMapping {
        guard let invoiceId = object["id"]?.stringValue else { return .reject("\(eventId): the invoice has no id") }
        guard let customer = customer(object) else { return .reject("\(eventId): invoice \(invoiceId) has no customer") }
        guard let currency = object["currency"]?.stringValue?.uppercased(), Currency(currency) != nil else {
            return .reject("\(eventId): invoice \(invoiceId) has no known currency")
        }
        return make(invoiceId, currency, customer)
    }

    /// `customer` is an id, or the customer object when the request expanded it.
    private static func customer(_ object: [String: JSONValue]) -> CustomerRef? {
        id(object["customer"]).map { CustomerRef(system: "stripe", ref: $0) }
    }

    /// A reference to another object: its id, or the object when expanded.
    private static func id(_ value: JSONValue?) -> String? {
        value?.stringValue ?? value?["id"]?.stringValue
    }

    /// A refund on a charge (https://docs.stripe.com/api/charges/object): `amount_refunded` is
    /// the charge's running total, so each notice is decided for what it adds (partial refunds
    /// come one notice each, and not always in order).
    private static func refund(_ charge: [String: JSONValue], eventId: String, at: Date) -> InboundMapping {
        guard let chargeId = charge["id"]?.stringValue else { return .reject("\(eventId): the charge has no id") }
        guard let customer = customer(charge) else {
            return .ignore("\(eventId): charge \(chargeId) has no customer: no account to tell")
        }
        guard let currency = charge["currency"]?.stringValue?.uppercased(), Currency(currency) != nil else {
            return .reject("\(eventId): charge \(chargeId) has no known currency")
        }
        guard let total = charge["amount_refunded"]?.intValue, total >= 0 else {
            return .reject("\(eventId): charge \(chargeId) amount_refunded is missing")
        }
        guard total > 0 else { return .ignore("\(eventId): charge \(chargeId) has nothing refunded") }
        var payload: [String: JSONValue] = ["payment_id": .string(chargeId), "amount_minor": .int(total), "currency": .string(currency),
                                            "refunded_total_minor": .int(total)]
        if let invoice = id(charge["invoice"]) { payload["invoice_id"] = .string(invoice) }
        return .events([MappedEvent(id: eventId, type: .paymentRefunded, occurredAt: at, customer: customer, payload: payload,
                                    ordering: .init(key: "charge:\(chargeId)", at: total, kind: .runningTotal(field: "amount_minor")))])
    }

    /// A dispute (https://docs.stripe.com/api/disputes/object) names its charge and payment
    /// intent, not the customer: the customer and invoice come from an earlier message about the
    /// charge. One canonical event per dispute, whichever message brings it first.
    private static func dispute(_ dispute: [String: JSONValue], eventId: String, at: Date) -> InboundMapping {
        guard let disputeId = dispute["id"]?.stringValue else { return .reject("\(eventId): the dispute has no id") }
        guard let amount = dispute["amount"]?.intValue, amount > 0 else { return .reject("\(eventId): dispute \(disputeId) has no amount") }
        guard let currency = dispute["currency"]?.stringValue?.uppercased(), Currency(currency) != nil else {
            return .reject("\(eventId): dispute \(disputeId) has no known currency")
        }
        let charge = dispute["charge"]?.objectValue
        guard let chargeId = id(dispute["charge"]) else { return .reject("\(eventId): dispute \(disputeId) names no charge") }
        let reason = dispute["reason"]?.stringValue ?? "general"
        var payload: [String: JSONValue] = ["amount_minor": .int(amount), "currency": .string(currency),
                                            "reason": .string("Stripe dispute \(disputeId): \(reason)")]
        // An expanded charge says whose it is; otherwise earlier messages about it do.
        if let charge, let invoice = id(charge["invoice"]) { payload["invoice_id"] = .string(invoice) }
        return .events([MappedEvent(id: "\(disputeId).created", type: .invoiceDisputed, occurredAt: at,
                                    customer: charge.flatMap(customer), object: chargeId, payload: payload)])
    }

    /// The payment objects a message names with their customer (a charge, or an invoice's
    /// charge and payment intent), for a later message that names only the object.
    public static func objects(_ event: [String: JSONValue]) -> [KnownObject] {
        guard let object = event["data"]?["object"]?.objectValue, let customer = customer(object) else { return [] }
        switch object["object"]?.stringValue {
        case "charge", "payment_intent":
            guard let id = object["id"]?.stringValue else { return [] }
            return [KnownObject(id: id, customer: customer, invoiceId: Self.id(object["invoice"]))]
        case "invoice":
            // Before `basil` an invoice names its charge and payment intent.
            let invoiceId = object["id"]?.stringValue
            return [object["charge"], object["payment_intent"]].compactMap { Self.id($0) }.map {
                KnownObject(id: $0, customer: customer, invoiceId: invoiceId)
            }
        default:
            return []
        }
    }

    private static func subscription(_ object: [String: JSONValue], previous: [String: JSONValue], deleted: Bool,
                                     eventId: String, at: Date, created: Int64, apiVersion: String) -> InboundMapping {
        guard let subscriptionId = object["id"]?.stringValue else { return .reject("\(eventId): the subscription has no id") }
        guard let customer = customer(object) else { return .reject("\(eventId): subscription \(subscriptionId) has no customer") }
        let items = object["items"]?["data"]?.arrayValue ?? []
        guard let plan = Plan(items: items) else {
            return .reject("\(eventId): subscription \(subscriptionId) has no priced items in one known currency")
        }
        let status = object["status"]?.stringValue ?? ""
        let change: String
        if deleted || status == "canceled" {
            change = "cancel"
        } else if previous["cancel_at_period_end"]?.boolValue == false && object["cancel_at_period_end"]?.boolValue == true {
            change = "cancel"
        } else if let before = previous["status"]?.stringValue, ["canceled", "past_due", "unpaid", "incomplete_expired", "paused"].contains(before),
                  ["active", "trialing"].contains(status) {
            change = "reactivate"
        } else if previous["cancel_at_period_end"]?.boolValue == true && object["cancel_at_period_end"]?.boolValue == false {
            change = "reactivate"
        } else if let oldItems = previous["items"]?["data"]?.arrayValue, let old = Plan(items: oldItems), old.mrrMinor != plan.mrrMinor {
            change = plan.mrrMinor > old.mrrMinor ? "upgrade" : "downgrade"
        } else if renewed(previous: previous, apiVersion: apiVersion) {
            change = "renew"
        } else {
            return .ignore("\(eventId): subscription \(subscriptionId) changed nothing Arbiter tracks (\(previous.keys.sorted().joined(separator: ", ")))")
        }
        return .events([MappedEvent(id: eventId, type: .subscriptionChanged, occurredAt: at, customer: customer, payload: [
            "subscription_id": .string(subscriptionId), "change": .string(change), "tier": .string(plan.tier),
            "mrr_minor": .int(plan.mrrMinor), "currency": .string(plan.currency)],
                                    ordering: .init(key: "subscription:\(subscriptionId)", at: created))])
    }

    /// A new billing period began: before `basil` the subscription's `current_period_start`
    /// changed; from it, the items' (the field moved there).
    private static func renewed(previous: [String: JSONValue], apiVersion: String) -> Bool {
        if apiVersion >= periodOnItems {
            return previous["items"]?["data"]?.arrayValue?.contains { $0["current_period_start"] != nil } ?? false
        }
        return previous["current_period_start"] != nil
    }

    /// What a subscription's items add up to per month.
    struct Plan {
        var mrrMinor: Int64 = 0
        var currency = ""
        var tier = ""

        init?(items: [JSONValue]) {
            for item in items {
                guard let price = item["price"] ?? item["plan"], let unit = price["unit_amount"]?.intValue ?? price["amount"]?.intValue,
                      let code = price["currency"]?.stringValue?.uppercased(), Currency(code) != nil,
                      currency.isEmpty || currency == code else { return nil }
                currency = code
                let quantity = item["quantity"]?.intValue ?? 1
                let recurring = price["recurring"] ?? price
                let interval = recurring["interval"]?.stringValue ?? "month"
                let count = max(1, recurring["interval_count"]?.intValue ?? 1)
                let perInterval = unit * quantity
                let monthly: Int64 = switch interval {
                case "year": perInterval / (12 * count)
                case "week": perInterval * 52 / (12 * count)
                case "day": perInterval * 365 / (12 * count)
                default: perInterval / count
                }
                mrrMinor += monthly
                if tier.isEmpty {
                    tier = price["lookup_key"]?.stringValue ?? price["nickname"]?.stringValue
                        ?? price["product"]?.stringValue ?? price["product"]?["id"]?.stringValue ?? "unknown"
                }
            }
            if currency.isEmpty { return nil }
        }
    }
}
