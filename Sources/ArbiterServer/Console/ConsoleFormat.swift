import ArbiterApp
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
            "entitlement.requested": "Feature request", "payment.failed": "Failed payment", "payment.succeeded": "Payment received", "payment.refunded": "Refund issued",
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
    /// A refusal as a sentence, people named (`names`: key id → how to call them) instead of key ids.
    static func plainWords(_ refusal: Refusal, names: [String: String] = [:]) -> String {
        // Each field's rule after the field's name, as a person reads a form: "To: must be after from".
        var text = refusal.errors.isEmpty ? refusal.message : refusal.errors.map { error in
            let field = error.field == "amount_minor" ? "Amount" : label(String(error.field.split(separator: ".").last ?? ""))
            return field.isEmpty ? error.message : "\(field): \(error.message)"
        }.joined(separator: "; ")
        for (id, name) in names where text.contains(id) {
            text = text.replacingOccurrences(of: id, with: name)
        }
        guard let first = text.first else { return text }
        return first.uppercased() + text.dropFirst() + (text.hasSuffix(".") ? "" : ".")
    }

    static func label(_ key: String) -> String {
        if key == "reference" { return "ERP reference" }
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

    static func review(_ detail: ReviewItemDetail, viewer: String, now: Date) -> [String: Any] {
        let item = detail.summary
        let currency = item.currency ?? detail.proposedActions.compactMap(\.currency).first
        let state = item.state.rawValue
        let payload = detail.event?.envelope["payload"]?.objectValue ?? [:]
        var request: [[String: Any]] = [["label": "Account", "value": item.accountId]]
        if let amount = money(item.amountMinor, currency) { request.append(["label": "Amount", "value": amount]) }
        for key in payload.keys.sorted() where key != "amount_minor" && key != "currency" {
            request.append(["label": label(key), "value": text(payload[key])])
        }
        request.append(["label": "Submitted by", "value": detail.submittedByName ?? item.submittedBy])
        request.append(["label": "Received", "value": time(detail.event?.receivedAt) ?? ""])
        request.append(["label": "Reference", "value": detail.correlationId])

        let account = detail.context?.account
        let accountCurrency = account?.currency
        func known<T>(_ value: T?, _ show: (T) -> String?) -> String { value.flatMap(show) ?? "—" }
        let accountRows: [[String: Any]] = [
            ["label": "Status", "value": known(account) { $0.status.rawValue }],
            ["label": "Tier", "value": known(account?.tier) { $0 }],
            ["label": "Monthly revenue", "value": known(account) { money($0.mrrMinor, accountCurrency) }],
            ["label": "Open balance", "value": known(account) { money($0.openBalanceMinor, accountCurrency) }],
            ["label": "Days past due", "value": known(account) { String($0.daysPastDue) }],
            ["label": "Features", "value": known(account) { $0.entitlements.isEmpty ? "none" : $0.entitlements.joined(separator: ", ") }],
        ]
        let history = detail.context?.history
        let historyRows: [[String: Any]] = [
            ["label": "Credits, last 30 days", "value": known(history) { money($0.credits30dMinor, accountCurrency) }],
            ["label": "Credits, last 90 days", "value": known(history) { money($0.credits90dMinor, accountCurrency) }],
            ["label": "Credits, last 365 days", "value": known(history) { money($0.credits365dMinor, accountCurrency) }],
            ["label": "Credits given in 90 days", "value": known(history) { String($0.creditCount90d) }],
            ["label": "Refunds, last 90 days", "value": known(history) { money($0.refunds90dMinor, accountCurrency) }],
            ["label": "Open disputes", "value": known(history) { String($0.openDisputes) }],
            ["label": "Failed payments, last 30 days", "value": known(history) { String($0.failedPayments30d) }],
        ]
        let proposed = detail.proposedActions.map { action -> [String: Any] in
            [
                "title": actionTitle(action.type), "amount": money(action.amountMinor, action.currency) ?? "",
                "details": action.details.filter { !["status", "erp_reference"].contains($0.key) }
                    .map { "\(label($0.key)): \(text($0.value))" }.joined(separator: " · "),
                "status": "",
            ]
        }
        let queued = detail.queuedActions.map { action -> [String: Any] in
            ["title": actionTitle(action.type), "amount": money(action.amountMinor, action.currency) ?? "", "details": "",
             "status": action.status]
        }
        let policies = detail.verdicts.map { verdict -> [String: Any] in
            present([
                "name": verdict.name, "outcome": verdict.outcome.rawValue,
                "reasons": verdict.reasons.isEmpty ? "none" : verdict.reasons.joined(separator: ", "),
                // Not "error": Mustache would find the page's own error when a verdict has none.
                "policyError": verdict.error,
            ])
        }
        let events = detail.history.map { step -> [String: Any] in
            var what = historyTitle(step.action)
            if let amount = money(step.amountMinor, currency), step.action == "approved" { what += " " + amount }
            return present([
                "at": time(step.at) ?? "",
                "who": step.actorName ?? (step.actor == "system" ? "Arbiter" : step.actor),
                "what": what, "comment": step.comment,
            ])
        }
        let claimant = item.claim?.by
        let waiting = !item.state.isDecided
        let proposedAmount = detail.proposedAmountMinor
        return present([
            "title": "\(eventTitle(item.eventType)) · \(item.accountId)",
            "id": item.id, "queue": item.queue, "queuePath": Console.pathComponent(item.queue),
            "state": state, "stateTitle": stateTitle(state), "overdue": item.overdue,
            "due": time(item.slaDueAt) ?? "no SLA",
            "escalatedFrom": item.escalatedFrom,
            "amount": money(item.amountMinor, currency),
            "request": request, "account": accountRows, "history": historyRows,
            "reasons": item.reasons.map { ["text": $0] }, "policies": policies,
            "proposed": proposed, "hasProposed": !proposed.isEmpty,
            "queued": queued, "hasQueued": !queued.isEmpty,
            "approvalsText": "\(item.approvalsGiven) of \(item.approvalsRequired) approvals given",
            "events": events, "hasEvents": !events.isEmpty,
            "claimedBy": item.claim.map { $0.byName ?? $0.by },
            "claimedByMe": claimant == viewer, "claimedByOther": claimant != nil && claimant != viewer,
            "claimExpires": time(item.claim?.expiresAt),
            "waiting": waiting, "unclaimed": claimant == nil,
            "hasMoney": proposedAmount != nil, "proposedAmount": money(proposedAmount, currency),
            "amountPlaceholder": money(proposedAmount, nil), "currency": currency,
        ])
    }
}
