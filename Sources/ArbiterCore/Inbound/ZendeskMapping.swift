import Foundation

/// A Zendesk trigger's webhook (https://developer.zendesk.com/documentation/webhooks/) as a
/// `credit.requested` event. Zendesk sends the JSON body the admin wrote in the trigger, with
/// placeholders filled in; the body Arbiter expects (docs/inbound.md shows the trigger):
///
/// ```json
/// {"ticket_id": "{{ticket.id}}", "organization_external_id": "{{ticket.organization.external_id}}",
///  "amount": "{{ticket.ticket_field_<id>}}", "currency": "USD", "reason": "{{ticket.title}}",
///  "request_id": "optional: one id per credit request, default ticket-<ticket_id>"}
/// ```
///
/// Placeholders arrive as text: `amount` is parsed in the currency's minor unit (`"150.00"`,
/// `"150"`, `"1,250.50"` in USD); an empty or malformed amount is a mapping error naming it.
/// The organization's external id resolves through the accounts' `external_refs.zendesk_org`.
public enum ZendeskMapping {
    public static func map(_ body: [String: JSONValue], at: Date) -> InboundMapping {
        var problems: [String] = []
        func text(_ key: String) -> String? {
            let value: String? = switch body[key] {
            case .string(let s)?: s.trimmingCharacters(in: .whitespacesAndNewlines)
            case .int(let n)?: String(n)
            default: nil
            }
            guard let value, !value.isEmpty else {
                problems.append("\(key) is missing or empty")
                return nil
            }
            return value
        }
        let ticket = text("ticket_id"), organization = text("organization_external_id"), reason = text("reason")
        let currencyCode = text("currency")?.uppercased()
        let amountText = text("amount")
        var currency: Currency?
        if let currencyCode {
            currency = Currency(currencyCode)
            if currency == nil { problems.append("currency \"\(currencyCode)\" is not an ISO 4217 code") }
        }
        var amountMinor: Int64?
        if let amountText, let currency {
            amountMinor = minorUnits(amountText, exponent: currency.exponent)
            if amountMinor == nil {
                problems.append("amount \"\(amountText)\" is not an amount in \(currency.code) (such as 150.00, at most \(currency.exponent) decimals)")
            } else if amountMinor == 0 {
                problems.append("amount \"\(amountText)\" is zero")
                amountMinor = nil
            }
        }
        guard problems.isEmpty, let ticket, let organization, let reason, let currency, let amountMinor else {
            return .reject("the Zendesk body cannot be mapped: " + problems.joined(separator: "; "))
        }
        let requestId = (body["request_id"]?.stringValue).flatMap { $0.isEmpty ? nil : $0 } ?? "ticket-\(ticket)"
        return .events([MappedEvent(id: requestId, type: .creditRequested, occurredAt: at,
                                    customer: CustomerRef(system: "zendesk_org", ref: organization),
                                    payload: ["amount_minor": .int(amountMinor), "currency": .string(currency.code),
                                              "reason": .string(String(reason.prefix(200))), "case_id": .string("zendesk:\(ticket)")])])
    }

    /// `"150.00"` → 15000 with exponent 2: digits with optional thousands commas, at most
    /// `exponent` decimals; nil when it is anything else or too large.
    static func minorUnits(_ text: String, exponent: Int) -> Int64? {
        let groups = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)[0].split(separator: ",", omittingEmptySubsequences: false)
        // Thousands separators only where they belong: "1,250" but not "1,25" or ",5".
        if groups.count > 1, !(1...3).contains(groups[0].count) || groups.dropFirst().contains(where: { $0.count != 3 }) { return nil }
        let plain = text.replacingOccurrences(of: ",", with: "")
        let parts = plain.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = parts.first, !whole.isEmpty, whole.count <= 15,
              whole.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        var fraction = parts.count == 2 ? String(parts[1]) : ""
        guard fraction.count <= exponent, fraction.allSatisfy({ $0.isASCII && $0.isNumber }),
              parts.count == 1 || !fraction.isEmpty else { return nil }
        fraction += String(repeating: "0", count: exponent - fraction.count)
        guard let value = Int64(whole + fraction), value <= Money.maximumMinorUnits else { return nil }
        return value
    }
}
