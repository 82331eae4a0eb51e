import ArbiterApp
import ArbiterCore
import AsyncHTTPClient
import Foundation
import NIOHTTP1

/// A Business Central company as a delivery target: its API v2.0 base, the company, the OAuth
/// 2.0 client (Microsoft Entra ID), and what a credit memo's line is booked on.
public struct BusinessCentralProfile: Sendable, Hashable {
    /// `https://api.businesscentral.dynamics.com/v2.0/<tenant>/<environment>/api/v2.0`.
    public var url: String
    /// The company's id (a GUID).
    public var company: String
    public var oauth: OAuthSettings
    /// `Item` or `Account`: what `lineObjectNumber` names.
    public var lineType: String
    /// The item or G/L account number credit lines are booked on.
    public var lineNumber: String
    /// The `external_refs` key holding the customer's number (default `business_central`).
    public var customerRef: String

    public init(url: String, company: String, oauth: OAuthSettings, lineType: String = "Account", lineNumber: String,
                customerRef: String = "business_central") {
        self.url = url
        self.company = company
        self.oauth = oauth
        self.lineType = lineType
        self.lineNumber = lineNumber
        self.customerRef = customerRef
    }

    /// The action types a Business Central target takes.
    public static let types: Set<ActionType> = [.creditMemo]
}

/// Delivers credit memos to Business Central's API v2.0 `salesCreditMemos`
/// (https://learn.microsoft.com/en-us/dynamics365/business-central/dev-itpro/api-reference/v2.0/resources/dynamics_salescreditmemo),
/// idempotent by `externalDocumentNumber`: each attempt first looks the document up
/// (`GET …/salesCreditMemos?$filter=externalDocumentNumber eq '<key>'`), creates it with its line
/// (a deep insert of `salesCreditMemoLines`) only when absent, posts a draft with the bound action
/// `POST …/salesCreditMemos(<id>)/Microsoft.NAV.post`, and counts as delivered only once the
/// document is posted (status no longer `Draft`); the reference is its number. A crash at any
/// step finds the document where it was left. The key is the action's id without its hyphens:
/// Business Central's external document number holds 35 characters, a UUID with hyphens 36.
public struct BusinessCentralConnector: ERPConnector {
    let profile: BusinessCentralProfile
    let api: BearerClient
    let timeout: Duration
    let refs: @Sendable (String) async throws -> [String: String]
    public var name: String { "business_central" }

    public init(profile: BusinessCentralProfile, client: HTTPClient, timeout: Duration,
                refs: @escaping @Sendable (String) async throws -> [String: String]) {
        self.profile = profile
        self.api = BearerClient(client: client, settings: profile.oauth, timeout: timeout)
        self.timeout = timeout
        self.refs = refs
    }

    /// The external document number of an action: its id, hyphens dropped, at most 35 characters.
    public static func documentNumber(_ key: String) -> String {
        String(key.filter { $0 != "-" }.prefix(35))
    }

    var documents: String { "\(profile.url)/companies(\(profile.company))/salesCreditMemos" }

    public func deliver(_ action: PendingAction) async -> DeliveryAttempt {
        let started = ContinuousClock.now
        func attempt(_ result: AttemptResult, status: Int? = nil, error: String? = nil, body: String? = nil) -> DeliveryAttempt {
            DeliveryAttempt(result: result, statusCode: status, error: error, responseBody: body, duration: ContinuousClock.now - started)
        }
        func failed(_ answer: HTTPExchange.Answer, _ step: String) -> DeliveryAttempt {
            let message = answer.json?["error"]?["message"]?.stringValue.map { ": \($0)" } ?? ""
            return attempt(HTTPExchange.result(answer, reference: nil), status: answer.status, error: "\(step) answered \(answer.status)\(message)",
                           body: answer.body.isEmpty ? nil : answer.body)
        }
        guard action.type == ActionType.creditMemo.rawValue,
              let payload = (try? JSONValue.parse(Data(action.payload.utf8)))?.objectValue else {
            return attempt(.rejected, error: "a Business Central target takes credit_memo, not \(action.type): route it to another target")
        }
        guard let minor = payload["amount_minor"]?.intValue, let code = payload["currency"]?.stringValue, let currency = Currency(code) else {
            return attempt(.rejected, error: "the action has no amount and currency")
        }
        let key = Self.documentNumber(action.id)
        do {
            // 1. Is it there already (an earlier attempt, or a crash after creating it)?
            let filter = "externalDocumentNumber eq '\(key)'".addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? ""
            let found = try await send(.GET, "\(documents)?$filter=\(filter)")
            guard found.isSuccess else { return failed(found, "looking the document up") }
            var document = found.json?["value"]?.arrayValue?.first
            // 2. Create it with its line when absent.
            if document == nil {
                guard let customer = try await refs(action.accountId)[profile.customerRef], !customer.isEmpty else {
                    return attempt(.rejected, error: "account \(action.accountId) has no external_refs.\(profile.customerRef) (the customer's "
                                   + "number in Business Central): sync the account with it, then retry")
                }
                let memo = String((payload["memo"]?.stringValue ?? payload["reason"]?.stringValue ?? "Arbiter credit \(key)").prefix(100))
                let amount = NetSuiteConnector.decimal(minor, currency: currency)
                let body: JSONValue = [
                    "externalDocumentNumber": .string(key), "customerNumber": .string(customer), "currencyCode": .string(currency.code),
                    "salesCreditMemoLines": [["lineType": .string(profile.lineType), "lineObjectNumber": .string(profile.lineNumber),
                                              "description": .string(memo), "quantity": 1, "unitPrice": amount]],
                ]
                let created = try await send(.POST, documents, body: CanonicalJSON.string(body))
                guard created.isSuccess, let made = created.json else { return failed(created, "creating the credit memo") }
                document = made
            }
            guard let id = document?["id"]?.stringValue else { return attempt(.retry(after: nil), error: "the credit memo has no id") }
            // 3. Post a draft; delivered once posted.
            if document?["status"]?.stringValue == "Draft" {
                let posted = try await send(.POST, "\(documents)(\(id))/Microsoft.NAV.post")
                guard posted.isSuccess else { return failed(posted, "posting the credit memo") }
                let read = try await send(.GET, "\(documents)(\(id))")
                guard read.isSuccess else { return failed(read, "reading the posted credit memo") }
                document = read.json
            }
            guard let status = document?["status"]?.stringValue, status != "Draft" else {
                return attempt(.retry(after: nil), error: "the credit memo is not posted yet")
            }
            return attempt(.delivered(reference: document?["number"]?.stringValue), status: 200)
        } catch let failure as OAuthClientCredentials.Failure {
            return attempt(failure.isPermanent ? .rejected : .retry(after: nil), status: failure.status, error: "no access token: \(failure.description)")
        } catch {
            return attempt(.retry(after: nil), error: HTTPConnector.describe(error, timeout: timeout))
        }
    }

    private func send(_ method: HTTPMethod, _ url: String, body: String? = nil) async throws -> HTTPExchange.Answer {
        try await api.send(method, url, body: body)
    }
}
