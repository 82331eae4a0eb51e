import ArbiterApp
import ArbiterCore
import Foundation

/// NetSuite's CSV import layout for credit memos and customer refunds (Setup → Import/Export →
/// Import CSV Records, "Add or Update" keyed on External ID), for users who import files rather
/// than call the REST service. One row per document (a credit memo's single line on `item`).
public struct NetSuiteCSVLayout: Sendable, Hashable {
    public var subsidiary: String
    public var item: String
    public var refundAccount: String?
    public var customerRef: String

    public init(subsidiary: String, item: String, refundAccount: String? = nil, customerRef: String = "netsuite") {
        self.subsidiary = subsidiary
        self.item = item
        self.refundAccount = refundAccount
        self.customerRef = customerRef
    }

    public static let creditMemoColumns = ["External ID", "Customer", "Subsidiary", "Currency", "Date", "Memo", "Item", "Quantity", "Rate", "Amount"]
    public static let refundColumns = ["External ID", "Customer", "Subsidiary", "Currency", "Date", "Memo", "Account", "Amount"]

    /// The row an action becomes, in the file of its record type and day; a refusal when it
    /// cannot be one (another action type, a customer without its NetSuite id).
    func line(_ action: PendingAction, day: String, refs: @Sendable (String) async throws -> [String: String]) async
        -> Result<FileConnector.Line, Refusal> {
        guard let type = ActionType(rawValue: action.type), let record = NetSuiteConnector.record(for: type) else {
            return .failure(Refusal.invalid("type", "a NetSuite CSV target takes credit_memo and refund, not \(action.type): route it to another target"))
        }
        guard let payload = (try? JSONValue.parse(Data(action.payload.utf8)))?.objectValue,
              let minor = payload["amount_minor"]?.intValue, let code = payload["currency"]?.stringValue, let currency = Currency(code) else {
            return .failure(Refusal.invalid("amount_minor", "the action has no amount and currency"))
        }
        guard let customer = (try? await refs(action.accountId))?[customerRef], !customer.isEmpty else {
            return .failure(Refusal.invalid("external_refs", "account \(action.accountId) has no external_refs.\(customerRef) (the customer's "
                                            + "NetSuite internal id): sync the account with it, then retry"))
        }
        let amount = Money.format(minor, exponent: currency.exponent)
        let memo = payload["memo"]?.stringValue ?? payload["reason"]?.stringValue ?? ""
        let externalId = NetSuiteConnector.externalId(action.id)
        let (columns, values): ([String], [String]) = type == .creditMemo
            ? (Self.creditMemoColumns, [externalId, customer, subsidiary, currency.code, day, memo, item, "1", amount, amount])
            : (Self.refundColumns, [externalId, customer, subsidiary, currency.code, day, memo, refundAccount ?? "", amount])
        return .success(FileConnector.Line(file: "netsuite-\(record)-\(day).csv", header: Self.row(columns), bytes: Self.row(values)))
    }

    /// One CSV row (RFC 4180): a field with a comma, quote or line break is quoted, quotes doubled; CRLF.
    static func row(_ fields: [String]) -> [UInt8] {
        Array((fields.map { field in
            field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
        }.joined(separator: ",") + "\r\n").utf8)
    }
}
