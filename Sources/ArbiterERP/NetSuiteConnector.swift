import ArbiterApp
import ArbiterCore
import AsyncHTTPClient
import Foundation
import NIOHTTP1

/// A NetSuite account as a delivery target: its REST record service, the OAuth 2.0 client that
/// gets tokens for it, and the internal ids a document needs (subsidiary, the credit line's item,
/// the refund's account).
public struct NetSuiteProfile: Sendable, Hashable {
    /// The account's REST host: `https://<account id>.suitetalk.api.netsuite.com`.
    public var url: String
    public var oauth: OAuthSettings
    public var subsidiary: String
    /// The item a credit memo's line is booked on (a non-inventory or service item).
    public var item: String
    /// The bank or undeposited-funds account a customer refund is paid from.
    public var refundAccount: String?
    /// The `external_refs` key holding the customer's NetSuite internal id (default `netsuite`).
    public var customerRef: String

    public init(url: String, oauth: OAuthSettings, subsidiary: String, item: String, refundAccount: String? = nil,
                customerRef: String = "netsuite") {
        self.url = url
        self.oauth = oauth
        self.subsidiary = subsidiary
        self.item = item
        self.refundAccount = refundAccount
        self.customerRef = customerRef
    }

    /// The action types a NetSuite target takes.
    public static let types: Set<ActionType> = [.creditMemo, .refund]
}

/// Delivers credit memos and refunds to NetSuite's REST record service
/// (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/chapter_1540391670.html) as an
/// upsert by external id: `PUT /services/rest/record/v1/creditMemo/eid:<key>` (a
/// `customerRefund` for a refund). The external id is the action's id — the same on every
/// attempt, so a retry or a resend after a crash updates the one document instead of making a
/// second. NetSuite answers `204 No Content` with the record's URL in `Location`; its last path
/// segment, the internal id, is the ERP reference. The customer is the account's
/// `external_refs.<customerRef>`; amounts go as the ERP's decimals in the document's currency.
/// A 401 fetches a new token once and sends again; 429 and 5xx are retried, other 4xx refused.
public struct NetSuiteConnector: ERPConnector {
    let profile: NetSuiteProfile
    let api: BearerClient
    let timeout: Duration
    /// The account's external references.
    let refs: @Sendable (String) async throws -> [String: String]
    public var name: String { "netsuite" }

    public init(profile: NetSuiteProfile, client: HTTPClient, timeout: Duration, refs: @escaping @Sendable (String) async throws -> [String: String]) {
        self.profile = profile
        self.api = BearerClient(client: client, settings: profile.oauth, timeout: timeout)
        self.timeout = timeout
        self.refs = refs
    }

    /// NetSuite external ids take letters, digits, `_` and `-` only: anything else becomes `_`.
    /// Arbiter's keys (UUIDs) already fit.
    public static func externalId(_ key: String) -> String {
        String(key.unicodeScalars.map { scalar -> Character in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || scalar == "_" || scalar == "-") ? Character(scalar) : "_"
        })
    }

    /// The record type an action becomes.
    static func record(for type: ActionType) -> String? {
        switch type {
        case .creditMemo: "creditMemo"
        case .refund: "customerRefund"
        default: nil
        }
    }

    /// `minor` in the currency's major unit, as NetSuite takes amounts.
    static func decimal(_ minor: Int64, currency: Currency) -> JSONValue {
        .double(Double(Money.format(minor, exponent: currency.exponent)) ?? 0)
    }

    /// The document for an action (its payload as queued).
    static func document(_ payload: [String: JSONValue], type: ActionType, key: String, customer: String, profile: NetSuiteProfile)
        -> JSONValue? {
        guard let minor = payload["amount_minor"]?.intValue, let code = payload["currency"]?.stringValue,
              let currency = Currency(code) else { return nil }
        let amount = decimal(minor, currency: currency)
        let memo = payload["memo"]?.stringValue ?? payload["reason"]?.stringValue ?? "Arbiter \(type.rawValue) \(key)"
        var document: [String: JSONValue] = [
            "externalId": .string(externalId(key)), "subsidiary": ["id": .string(profile.subsidiary)],
            "currency": ["refName": .string(currency.code)], "memo": .string(String(memo.prefix(999))),
        ]
        switch type {
        case .creditMemo:
            document["entity"] = ["id": .string(customer)]
            document["item"] = ["items": [["item": ["id": .string(profile.item)], "quantity": 1, "rate": amount, "amount": amount,
                                           "description": .string(String(memo.prefix(999)))]]]
            if let invoice = payload["invoice_id"]?.stringValue { document["otherRefNum"] = .string(invoice) }
        case .refund:
            document["customer"] = ["id": .string(customer)]
            document["total"] = amount
            if let account = profile.refundAccount { document["account"] = ["id": .string(account)] }
        default:
            return nil
        }
        return .object(document)
    }

    public func deliver(_ action: PendingAction) async -> DeliveryAttempt {
        let started = ContinuousClock.now
        func attempt(_ result: AttemptResult, status: Int? = nil, error: String? = nil, body: String? = nil) -> DeliveryAttempt {
            DeliveryAttempt(result: result, statusCode: status, error: error, responseBody: body, duration: ContinuousClock.now - started)
        }
        guard let payload = (try? JSONValue.parse(Data(action.payload.utf8)))?.objectValue,
              let type = ActionType(rawValue: action.type), let record = Self.record(for: type) else {
            return attempt(.rejected, error: "a NetSuite target takes credit_memo and refund, not \(action.type): route it to another target")
        }
        let customer: String
        do {
            guard let found = try await refs(action.accountId)[profile.customerRef], !found.isEmpty else {
                return attempt(.rejected, error: "account \(action.accountId) has no external_refs.\(profile.customerRef) (the customer's "
                               + "NetSuite internal id): sync the account with it, then retry")
            }
            customer = found
        } catch {
            return attempt(.retry(after: nil), error: "the account's references could not be read: \(error)")
        }
        guard let document = Self.document(payload, type: type, key: action.id, customer: customer, profile: profile) else {
            return attempt(.rejected, error: "the action has no amount and currency")
        }
        let url = "\(profile.url)/services/rest/record/v1/\(record)/eid:\(Self.externalId(action.id))"
        let body = CanonicalJSON.string(document)
        do {
            let answer = try await api.send(.PUT, url, body: body)
            let reference = answer.headers.first(name: "Location").flatMap { $0.split(separator: "/").last.map(String.init) }
            return attempt(HTTPExchange.result(answer, reference: reference), status: answer.status,
                           body: answer.isSuccess || answer.body.isEmpty ? nil : answer.body)
        } catch let failure as OAuthClientCredentials.Failure {
            return attempt(failure.isPermanent ? .rejected : .retry(after: nil), status: failure.status,
                           error: "no access token: \(failure.description)")
        } catch {
            return attempt(.retry(after: nil), error: HTTPConnector.describe(error, timeout: timeout))
        }
    }
}
