import ArbiterApp
import ArbiterCore
import AsyncHTTPClient
import Foundation
import NIOHTTP1

/// The ERP's side of a reconciliation read from NetSuite: each of Arbiter's money actions looked
/// up by its external id (`GET …/record/v1/creditMemo|customerRefund/eid:<key>`), eight at a
/// time. NetSuite is asked only for the keys Arbiter issued, so a document made in NetSuite by
/// hand is not seen: reconcile an export (a saved search as CSV) for those.
public struct NetSuitePuller: ERPPuller {
    let profile: NetSuiteProfile
    let api: BearerClient

    public init(profile: NetSuiteProfile, client: HTTPClient, timeout: Duration) {
        self.profile = profile
        self.api = BearerClient(client: client, settings: profile.oauth, timeout: timeout)
    }

    public func pull(actions: [(id: String, type: ActionType)], from: Date, to: Date, into file: URL) async throws -> ERPColumnMapping {
        let wanted = actions.compactMap { action in NetSuiteConnector.record(for: action.type).map { (action.id, $0) } }
        var rows: [[String]?] = Array(repeating: nil, count: wanted.count)
        try await withThrowingTaskGroup(of: (Int, [String]?).self) { group in
            var next = 0
            func add() {
                let (index, (key, record)) = (next, wanted[next])
                next += 1
                group.addTask { (index, try await lookUp(key: key, record: record)) }
            }
            while next < min(8, wanted.count) { add() }
            while let (index, row) = try await group.next() {
                rows[index] = row
                if next < wanted.count { add() }
            }
        }
        try ERPPullLayout.write(rows.compactMap { $0 }, to: file)
        return ERPPullLayout.mapping(name: "netsuite", posted: ["open", "paid in full", "fully applied", "pending approval", "deposited"],
                                     void: ["voided", "void", "cancelled"],
                                     types: ["creditmemo": .creditMemo, "customerrefund": .refund])
    }

    /// One record as a row, nil when NetSuite has none under the key.
    func lookUp(key: String, record: String) async throws -> [String]? {
        let answer = try await api.send(.GET, "\(profile.url)/services/rest/record/v1/\(record)/eid:\(NetSuiteConnector.externalId(key))")
        if answer.status == 404 { return nil }
        guard answer.isSuccess, let document = answer.json else {
            throw ERPPullFailure("NetSuite answered \(answer.status) looking up \(record) \(key): \(answer.body.prefix(300))")
        }
        // Select fields come as {"id", "refName"} in REST records; plain values are taken as they are.
        func text(_ value: JSONValue?) -> String {
            switch value {
            case .string(let text)?: text
            case .int(let number)?: String(number)
            case .double(let number)?: String(number)
            case .object(let fields)?: fields["refName"]?.stringValue ?? fields["id"]?.stringValue ?? ""
            default: ""
            }
        }
        var amount = text(document["total"])
        if amount.isEmpty, let items = document["item"]?["items"]?.arrayValue {
            let sum = items.compactMap { $0["amount"]?.doubleValue ?? $0["amount"]?.intValue.map(Double.init) }.reduce(0, +)
            amount = String(format: "%.4f", sum)
        }
        return [text(document["externalId"]).isEmpty ? key : text(document["externalId"]), text(document["tranId"]), amount,
                text(document["currency"]), text(document["tranDate"]), text(document["status"]), record]
    }
}

/// The ERP's side of a reconciliation read from Business Central: the credit memos dated in the
/// period (`$filter=creditMemoDate ge <first day> and creditMemoDate le <last day>`, 500 a page),
/// then each of Arbiter's credit memos not among them looked up by its external document number
/// (delivered after the period's last day). A document of an action approved outside the period
/// but dated inside it reads as unexpected: reconcile the neighbouring period to place it.
public struct BusinessCentralPuller: ERPPuller {
    let profile: BusinessCentralProfile
    let api: BearerClient

    public init(profile: BusinessCentralProfile, client: HTTPClient, timeout: Duration) {
        self.profile = profile
        self.api = BearerClient(client: client, settings: profile.oauth, timeout: timeout)
    }

    var documents: String { "\(profile.url)/companies(\(profile.company))/salesCreditMemos" }

    public func pull(actions: [(id: String, type: ActionType)], from: Date, to: Date, into file: URL) async throws -> ERPColumnMapping {
        let day = DateFormatter()
        day.dateFormat = "yyyy-MM-dd"
        day.timeZone = TimeZone(identifier: "UTC")
        day.locale = Locale(identifier: "en_US_POSIX")
        let filter = "creditMemoDate ge \(day.string(from: from)) and creditMemoDate le \(day.string(from: to.addingTimeInterval(-1)))"
        var rows: [[String]] = []
        var seen = Set<String>()
        var skip = 0
        while true {
            let page = try await get("\(documents)?$filter=\(PercentEncoding.unreserved(filter))&$top=500&$skip=\(skip)")
            let values = page["value"]?.arrayValue ?? []
            for document in values {
                let row = Self.row(document)
                seen.insert(row[0])
                rows.append(row)
            }
            if values.count < 500 { break }
            skip += values.count
        }
        for action in actions where action.type == .creditMemo {
            let key = BusinessCentralConnector.documentNumber(action.id)
            guard !seen.contains(key) else { continue }
            let found = try await get("\(documents)?$filter=\(PercentEncoding.unreserved("externalDocumentNumber eq '\(key)'"))")
            for document in found["value"]?.arrayValue ?? [] { rows.append(Self.row(document)) }
        }
        try ERPPullLayout.write(rows, to: file)
        return ERPPullLayout.mapping(name: "business_central", posted: ["open", "paid", "corrective"], void: ["canceled", "cancelled"],
                                     types: ["salescreditmemo": .creditMemo], compactKeys: true)
    }

    static func row(_ document: JSONValue) -> [String] {
        func text(_ key: String) -> String {
            switch document[key] {
            case .string(let text)?: text
            case .int(let number)?: String(number)
            case .double(let number)?: String(format: "%.4f", number)
            default: ""
            }
        }
        return [text("externalDocumentNumber"), text("number"), text("totalAmountIncludingTax"), text("currencyCode"),
                text("creditMemoDate"), text("status"), "salesCreditMemo"]
    }

    func get(_ url: String) async throws -> JSONValue {
        let answer = try await api.send(.GET, url)
        guard answer.isSuccess, let json = answer.json else {
            throw ERPPullFailure("Business Central answered \(answer.status) to \(url): \(answer.body.prefix(300))")
        }
        return json
    }
}
