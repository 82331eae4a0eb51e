import ArbiterCore
import Foundation

/// How the console says things to a finance person: money with its currency and digit
/// grouping, ages in hours and minutes, names instead of field keys.
enum ConsoleFormat {
    /// "1,500.00 USD"; nil without an amount.
    static func money(_ minor: Int64?, _ currency: String?) -> String? {
        guard let minor else { return nil }
        let exponent = currency.flatMap(Currency.init)?.exponent ?? 2
        let plain = Money.format(minor, exponent: exponent)
        let negative = plain.hasPrefix("-")
        let digits = negative ? String(plain.dropFirst()) : plain
        let parts = digits.split(separator: ".", maxSplits: 1)
        var whole = String(parts[0])
        var grouped = ""
        while whole.count > 3 {
            grouped = "," + whole.suffix(3) + grouped
            whole = String(whole.dropLast(3))
        }
        grouped = whole + grouped
        let text = (negative ? "-" : "") + grouped + (parts.count > 1 ? "." + parts[1] : "")
        return currency.map { "\(text) \($0)" } ?? text
    }

    /// An amount typed by a reviewer ("90", "90.5", "1,250.00") in minor units; nil when it is
    /// not a plain positive amount with at most the currency's decimals.
    static func parseAmount(_ text: String, currency: String?) -> Int64? {
        let exponent = currency.flatMap(Currency.init)?.exponent ?? 2
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        // Thousands separators only where they belong ("1,250.00"): anything else is a typo to
        // ask about, not to guess.
        let wholeText = trimmed.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)[0]
        if wholeText.contains(",") {
            let groups = wholeText.split(separator: ",", omittingEmptySubsequences: false)
            guard (1...3).contains(groups[0].count), groups.dropFirst().allSatisfy({ $0.count == 3 }) else { return nil }
        }
        let cleaned = trimmed.replacingOccurrences(of: ",", with: "")
        let parts = cleaned.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let whole = Int64(parts[0]), whole >= 0, parts[0].allSatisfy(\.isASCII) else { return nil }
        var fraction: Int64 = 0
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.count <= exponent, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            fraction = Int64(digits + String(repeating: "0", count: exponent - digits.count)) ?? 0
        }
        var scale: Int64 = 1
        for _ in 0..<exponent { scale *= 10 }
        let (product, overflow) = whole.multipliedReportingOverflow(by: scale)
        guard !overflow, product <= Money.maximumMinorUnits - fraction else { return nil }
        return product + fraction
    }

    /// "45 s", "12 min", "3 h 5 min", "2 d 4 h".
    static func age(_ seconds: TimeInterval) -> String {
        let s = Int(max(0, seconds))
        if s < 60 { return "\(s) s" }
        if s < 3600 { return "\(s / 60) min" }
        if s < 86400 { return "\(s / 3600) h \(s % 3600 / 60) min" }
        return "\(s / 86400) d \(s % 86400 / 3600) h"
    }

    /// "22 Nov 2026, 10:00 UTC" from a stored timestamp.
    static func time(_ text: String?) -> String? {
        guard let text, let date = Timestamp.parse(text) else { return nil }
        var seconds = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(parts.tm_mday) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900), \(two(parts.tm_hour)):\(two(parts.tm_min)) UTC"
    }

    static func eventTitle(_ type: String) -> String {
        [
            "credit.requested": "Credit request", "refund.requested": "Refund request", "invoice.disputed": "Invoice dispute",
            "entitlement.requested": "Feature request", "payment.failed": "Failed payment", "payment.succeeded": "Payment received",
            "subscription.changed": "Subscription change", "case.escalated": "Escalated case",
        ][type] ?? type
    }

    static func actionTitle(_ type: String) -> String {
        [
            "credit_memo": "Credit memo", "refund": "Refund", "account_suspension": "Suspend the account",
            "account_reinstatement": "Reinstate the account", "entitlement_grant": "Grant a feature",
            "entitlement_revoke": "Revoke a feature",
        ][type] ?? type
    }

    static func stateTitle(_ state: String) -> String {
        ["open": "Open", "claimed": "Claimed", "escalated": "Escalated", "approved": "Approved", "rejected": "Rejected"][state] ?? state
    }

    static func historyTitle(_ action: String) -> String {
        [
            "claimed": "claimed the item", "released": "released the item", "approved": "approved",
            "rejected": "rejected", "reassigned": "reassigned the item", "claim_expired": "claim expired",
            "escalated": "escalated (past its SLA)",
        ][action] ?? action
    }

    /// What the console says after a successful action.
    static let notices: [String: String] = [
        "claimed": "You claimed this item: nobody else can decide it while your claim holds.",
        "released": "You released the item: it is back in the queue.",
        "approved": "Approved. The actions are queued for the ERP.",
        "first-approval": "Your approval is recorded. This item needs another approval from a different reviewer.",
        "rejected": "Rejected. Nothing is sent to the ERP.",
    ]

    /// A refusal in plain words: the service's own explanation, first letter capitalised.
    static func plainWords(_ refusal: Refusal) -> String {
        var text = refusal.errors.isEmpty ? refusal.message : refusal.errors.map(\.message).joined(separator: "; ")
        if refusal.errors.first?.field == "amount_minor" { text = "Amount: " + text }
        guard let first = text.first else { return text }
        return first.uppercased() + text.dropFirst() + (text.hasSuffix(".") ? "" : ".")
    }

    static func label(_ key: String) -> String {
        let words = key.replacingOccurrences(of: "_", with: " ")
        return words.prefix(1).uppercased() + words.dropFirst()
    }

    static func text(_ value: JSONValue?) -> String {
        switch value {
        case .string(let s)?: s
        case .int(let i)?: String(i)
        case .double(let d)?: String(d)
        case .bool(let b)?: b ? "yes" : "no"
        case .array(let items)?: items.isEmpty ? "none" : items.map { text($0) }.joined(separator: ", ")
        case nil, .null?: "—"
        case .object?: "…"
        }
    }

    /// The view of one review item for the `review` template.
    /// Mustache treats a nil inside `Any` as a value ("nil"): absent keys are what is falsy.
    static func present(_ values: [String: Any?]) -> [String: Any] {
        values.compactMapValues { $0 }
    }

    static func review(_ item: JSONValue, viewer: String, now: Date) -> [String: Any] {
        let currency = item["currency"]?.stringValue ?? item["proposed_actions"]?.arrayValue?.compactMap { $0["currency"]?.stringValue }.first
        let state = item["state"]?.stringValue ?? ""
        let type = item["event_type"]?.stringValue ?? ""
        let payload = item["event"]?["envelope"]?["payload"]?.objectValue ?? [:]
        var request: [[String: Any]] = [
            ["label": "Account", "value": item["account_id"]?.stringValue ?? ""],
        ]
        if let amount = money(item["amount_minor"]?.intValue, currency) { request.append(["label": "Amount", "value": amount]) }
        for key in payload.keys.sorted() where key != "amount_minor" && key != "currency" {
            request.append(["label": label(key), "value": text(payload[key])])
        }
        request.append(["label": "Submitted by", "value": item["submitted_by_name"]?.stringValue ?? item["submitted_by"]?.stringValue ?? ""])
        request.append(["label": "Received", "value": time(item["event"]?["received_at"]?.stringValue) ?? ""])
        request.append(["label": "Reference", "value": item["correlation_id"]?.stringValue ?? ""])

        let account = item["context"]?["account"]
        let accountCurrency = account?["currency"]?.stringValue
        let accountRows: [[String: Any]] = [
            ["label": "Status", "value": text(account?["status"])],
            ["label": "Tier", "value": text(account?["tier"])],
            ["label": "Monthly revenue", "value": money(account?["mrr_minor"]?.intValue, accountCurrency) ?? "—"],
            ["label": "Open balance", "value": money(account?["open_balance_minor"]?.intValue, accountCurrency) ?? "—"],
            ["label": "Days past due", "value": text(account?["days_past_due"])],
            ["label": "Features", "value": text(account?["entitlements"])],
        ]
        let history = item["context"]?["history"]
        let historyRows: [[String: Any]] = [
            ["label": "Credits, last 30 days", "value": money(history?["credits_30d_minor"]?.intValue, accountCurrency) ?? "—"],
            ["label": "Credits, last 90 days", "value": money(history?["credits_90d_minor"]?.intValue, accountCurrency) ?? "—"],
            ["label": "Credits, last 365 days", "value": money(history?["credits_365d_minor"]?.intValue, accountCurrency) ?? "—"],
            ["label": "Credits given in 90 days", "value": text(history?["credit_count_90d"])],
            ["label": "Refunds, last 90 days", "value": money(history?["refunds_90d_minor"]?.intValue, accountCurrency) ?? "—"],
            ["label": "Open disputes", "value": text(history?["open_disputes"])],
            ["label": "Failed payments, last 30 days", "value": text(history?["failed_payments_30d"])],
        ]
        func actionRows(_ actions: [JSONValue]?) -> [[String: Any]] {
            (actions ?? []).map { action in
                let details = (action.objectValue ?? [:]).keys.sorted()
                    .filter { !["id", "type", "amount_minor", "currency", "proposed_amount_minor", "status", "erp_reference"].contains($0) }
                    .map { "\(label($0)): \(text(action[$0]))" }
                return [
                    "title": actionTitle(action["type"]?.stringValue ?? ""),
                    "amount": money(action["amount_minor"]?.intValue, action["currency"]?.stringValue) ?? "",
                    "details": details.joined(separator: " · "),
                    "status": action["status"]?.stringValue ?? "",
                ]
            }
        }
        let policies = (item["policies"]?.arrayValue ?? []).map { policy -> [String: Any] in
            present([
                "name": policy["name"]?.stringValue ?? "", "outcome": policy["outcome"]?.stringValue ?? "",
                "reasons": text(policy["reasons"]), "error": policy["error"]?.stringValue,
            ])
        }
        let events = (item["history"]?.arrayValue ?? []).map { entry -> [String: Any] in
            var what = historyTitle(entry["action"]?.stringValue ?? "")
            if let amount = money(entry["amount_minor"]?.intValue, currency), entry["action"] == "approved" { what += " " + amount }
            return present([
                "at": time(entry["at"]?.stringValue) ?? "",
                "who": entry["actor_name"]?.stringValue ?? (entry["actor"] == "system" ? "Arbiter" : entry["actor"]?.stringValue ?? ""),
                "what": what, "comment": entry["comment"]?.stringValue,
            ])
        }
        let claimant = item["claimed_by"]?.stringValue
        let waiting = ["open", "claimed", "escalated"].contains(state)
        let proposed = item["proposed_amount_minor"]?.intValue
        let queued = item["queued_actions"]?.arrayValue ?? []
        return present([
            "title": "\(eventTitle(type)) · \(item["account_id"]?.stringValue ?? "")",
            "id": item["id"]?.stringValue ?? "", "queue": item["queue"]?.stringValue ?? "",
            "queuePath": Console.pathComponent(item["queue"]?.stringValue ?? ""),
            "state": state, "stateTitle": stateTitle(state), "overdue": item["overdue"] == .bool(true),
            "due": time(item["sla_due_at"]?.stringValue) ?? "no SLA",
            "escalatedFrom": item["escalated_from"]?.stringValue,
            "amount": money(item["amount_minor"]?.intValue, currency),
            "request": request, "account": accountRows, "history": historyRows,
            "reasons": (item["reasons"]?.arrayValue ?? []).map { ["text": text($0)] }, "policies": policies,
            "proposed": actionRows(item["proposed_actions"]?.arrayValue), "hasProposed": !(item["proposed_actions"]?.arrayValue ?? []).isEmpty,
            "queued": actionRows(queued), "hasQueued": !queued.isEmpty,
            "approvalsText": "\(item["approvals_given"]?.intValue ?? 0) of \(item["approvals_required"]?.intValue ?? 1) approvals given",
            "events": events, "hasEvents": !events.isEmpty,
            "claimedBy": item["claimed_by_name"]?.stringValue ?? claimant,
            "claimedByMe": claimant == viewer, "claimedByOther": claimant != nil && claimant != viewer,
            "claimExpires": time(item["claim_expires_at"]?.stringValue),
            "waiting": waiting, "unclaimed": claimant == nil,
            "hasMoney": proposed != nil, "proposedAmount": money(proposed, currency),
            "amountPlaceholder": money(proposed, nil), "currency": currency,
        ])
    }
}
