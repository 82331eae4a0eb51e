import ArbiterApp
import ArbiterCore
import ArbiterERP
import Foundation

/// A place approved actions go (`--targets FILE`): its name, the action types routed to it, its
/// connector and its own delivery settings. Each target has its own dispatcher and its own
/// lines (an account's actions in order within the target), so a dead letter in one never holds
/// another's actions. Without `--targets`, one target named `erp` takes every type through the
/// `--erp-*` connector.
public struct DeliveryTarget: Sendable, Hashable {
    public var name: String
    public var types: Set<ActionType>
    public var connector: ERPTarget
    public var settings: DeliverySettings

    public init(name: String, types: Set<ActionType>, connector: ERPTarget, settings: DeliverySettings) {
        self.name = name
        self.types = types
        self.connector = connector
        self.settings = settings
    }

    /// The routing the targets make: each type to its target.
    public static func routing(_ targets: [DeliveryTarget]) -> ActionRouting {
        var routes: [ActionType: String] = [:]
        for target in targets { for type in target.types { routes[type] = target.name } }
        return ActionRouting(routes)
    }

    /// Reads a targets file:
    ///
    /// ```json
    /// {"targets": [
    ///   {"name": "erp", "actions": ["credit_memo", "refund"],
    ///    "connector": {"kind": "http", "url": "https://erp.example.com/arbiter", "secret": {"env": "ARBITER_ERP_SECRET"}},
    ///    "concurrency": 16, "max_attempts": 12, "timeout_ms": 10000, "max_delay_s": 600},
    ///   {"name": "billing", "actions": ["account_suspension", "account_reinstatement", "entitlement_grant", "entitlement_revoke"],
    ///    "connector": {"kind": "file", "directory": "/var/spool/arbiter/billing"}}
    /// ]}
    /// ```
    ///
    /// Connector kinds: `http` (`url`, `secret` as `{"env"}`, `{"file"}` or `{"value"}`), `file`
    /// (`directory`), `none` (actions wait). Every action type goes to exactly one target;
    /// settings not given are `defaults` (the `--erp-*` flags). Errors name the field.
    public static func load(_ url: URL, defaults: DeliverySettings,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [DeliveryTarget] {
        let document: JSONValue
        do {
            document = try JSONValue.parse(Data(contentsOf: url))
        } catch {
            throw Refusal.invalid("targets", "\(url.path) is not readable JSON: \(error)")
        }
        guard let entries = document["targets"]?.arrayValue, !entries.isEmpty else {
            throw Refusal.invalid("targets", "\(url.lastPathComponent) must hold {\"targets\": [...]} with at least one target")
        }
        var targets: [DeliveryTarget] = [], errors: [FieldError] = []
        var routed: [ActionType: String] = [:]
        for (i, entry) in entries.enumerated() {
            let field = "targets[\(i)]"
            guard let name = entry["name"]?.stringValue, validName(name) else {
                errors.append(FieldError("\(field).name", "must be 1-32 lower-case letters, digits, - or _, and not \"\(OutboxTarget.answers)\""))
                continue
            }
            if targets.contains(where: { $0.name == name }) { errors.append(FieldError("\(field).name", "\(name) is configured twice")) }
            var types: Set<ActionType> = []
            for (j, value) in (entry["actions"]?.arrayValue ?? []).enumerated() {
                guard let type = value.stringValue.flatMap(ActionType.init(rawValue:)) else {
                    errors.append(FieldError("\(field).actions[\(j)]", "must be one of \(ActionType.allCases.map(\.rawValue).joined(separator: ", "))"))
                    continue
                }
                if let other = routed[type] {
                    errors.append(FieldError("\(field).actions[\(j)]", "\(type.rawValue) is already routed to \(other)"))
                }
                routed[type] = name
                types.insert(type)
            }
            if types.isEmpty { errors.append(FieldError("\(field).actions", "must name the action types this target takes")) }
            var settings = defaults
            func number(_ key: String, _ range: ClosedRange<Int64>) -> Int64? {
                guard let value = entry[key] else { return nil }
                guard let n = value.intValue, range.contains(n) else {
                    errors.append(FieldError("\(field).\(key)", "must be an integer in \(range.lowerBound)...\(range.upperBound)"))
                    return nil
                }
                return n
            }
            if let n = number("concurrency", 1...1024) { settings.concurrency = Int(n) }
            if let n = number("max_attempts", 1...100) { settings.maxAttempts = Int(n) }
            if let n = number("timeout_ms", 100...300_000) { settings.timeout = .milliseconds(n) }
            if let n = number("max_delay_s", 1...86_400) { settings.maxDelay = .seconds(n) }
            switch connector(entry["connector"], field: "\(field).connector", environment: environment) {
            case .success(let connector):
                let takes: (kind: String, types: Set<ActionType>)? = switch connector {
                case .netsuite, .netsuiteCSV: ("netsuite", NetSuiteProfile.types)
                case .businessCentral: ("business_central", BusinessCentralProfile.types)
                default: nil
                }
                if let takes {
                    for type in types.subtracting(takes.types).sorted(by: { $0.rawValue < $1.rawValue }) {
                        errors.append(FieldError("\(field).actions", "\(type.rawValue) cannot go to a \(takes.kind) target (it takes "
                                                 + "\(takes.types.map(\.rawValue).sorted().joined(separator: " and ")))"))
                    }
                }
                targets.append(DeliveryTarget(name: name, types: types, connector: connector, settings: settings))
            case .failure(let error): errors.append(error)
            }
        }
        let unrouted = ActionType.allCases.filter { routed[$0] == nil }
        if errors.isEmpty, !unrouted.isEmpty {
            errors.append(FieldError("targets", "every action type needs a target: \(unrouted.map(\.rawValue).joined(separator: ", ")) "
                                     + "\(unrouted.count == 1 ? "is" : "are") routed nowhere (a target with connector {\"kind\": \"none\"} keeps them waiting)"))
        }
        if !errors.isEmpty { throw Refusal.invalid(errors, message: "\(url.path): " + errors.map(\.description).joined(separator: "; ")) }
        return targets
    }

    static func validName(_ name: String) -> Bool {
        name != OutboxTarget.answers && (1...32).contains(name.count)
            && name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }
    }

    /// A target's connector.
    static func connector(_ value: JSONValue?, field: String, environment: [String: String]) -> Result<ERPTarget, FieldError> {
        guard let kind = value?["kind"]?.stringValue else {
            return .failure(FieldError("\(field).kind", "must be http, file, netsuite, business_central or none"))
        }
        switch kind {
        case "none":
            return .success(.none)
        case "file":
            guard let directory = value?["directory"]?.stringValue, !directory.isEmpty else {
                return .failure(FieldError("\(field).directory", "must name the spool directory"))
            }
            switch value?["layout"]?.stringValue ?? "ndjson" {
            case "ndjson":
                return .success(.spool(directory: directory))
            case "netsuite_csv":
                guard let subsidiary = value?["subsidiary"]?.stringValue, !subsidiary.isEmpty else {
                    return .failure(FieldError("\(field).subsidiary", "must be the subsidiary's internal id"))
                }
                guard let item = value?["item"]?.stringValue, !item.isEmpty else {
                    return .failure(FieldError("\(field).item", "must be the internal id of the item credit memo lines are booked on"))
                }
                return .success(.netsuiteCSV(directory: directory, layout: NetSuiteCSVLayout(
                    subsidiary: subsidiary, item: item, refundAccount: value?["refund_account"]?.stringValue,
                    customerRef: value?["customer_ref"]?.stringValue ?? "netsuite")))
            default:
                return .failure(FieldError("\(field).layout", "must be ndjson or netsuite_csv"))
            }
        case "http":
            guard let url = value?["url"]?.stringValue, let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""),
                  parsed.host != nil else {
                return .failure(FieldError("\(field).url", "must be an http:// or https:// URL"))
            }
            switch SecretReference.read(value?["secret"] ?? .null, field: "\(field).secret", sealedAs: "", environment: environment) {
            case .failure(let error): return .failure(error)
            case .success(let read):
                guard let secret = read.value, secret.count >= 16 else {
                    return .failure(FieldError("\(field).secret", "needs a signing secret of at least 16 characters (\(read.origin) gives none)"))
                }
                return .success(.http(url: url, secret: secret))
            }
        case "netsuite":
            let oauth: OAuthSettings
            switch Self.oauth(value, field: field, environment: environment, authentication: .basic) {
            case .success(let settings): oauth = settings
            case .failure(let error): return .failure(error)
            }
            guard let url = httpURL(value?["url"]) else {
                return .failure(FieldError("\(field).url", "must be the account's REST host, https://<account id>.suitetalk.api.netsuite.com"))
            }
            guard let subsidiary = value?["subsidiary"]?.stringValue, !subsidiary.isEmpty else {
                return .failure(FieldError("\(field).subsidiary", "must be the subsidiary's internal id"))
            }
            guard let item = value?["item"]?.stringValue, !item.isEmpty else {
                return .failure(FieldError("\(field).item", "must be the internal id of the item credit memo lines are booked on"))
            }
            return .success(.netsuite(NetSuiteProfile(url: url, oauth: oauth, subsidiary: subsidiary, item: item,
                                                      refundAccount: value?["refund_account"]?.stringValue,
                                                      customerRef: value?["customer_ref"]?.stringValue ?? "netsuite")))
        case "business_central":
            let oauth: OAuthSettings
            switch Self.oauth(value, field: field, environment: environment, authentication: .post) {
            case .success(let settings): oauth = settings
            case .failure(let error): return .failure(error)
            }
            guard let url = httpURL(value?["url"]) else {
                return .failure(FieldError("\(field).url", "must be the API base, https://api.businesscentral.dynamics.com/v2.0/<tenant>/<environment>/api/v2.0"))
            }
            guard let company = value?["company"]?.stringValue, !company.isEmpty else {
                return .failure(FieldError("\(field).company", "must be the company's id"))
            }
            let lineType = value?["line_type"]?.stringValue ?? "Account"
            guard ["Item", "Account"].contains(lineType) else { return .failure(FieldError("\(field).line_type", "must be Item or Account")) }
            guard let line = value?["line_number"]?.stringValue, !line.isEmpty else {
                return .failure(FieldError("\(field).line_number", "must be the item or G/L account number credit lines are booked on"))
            }
            return .success(.businessCentral(BusinessCentralProfile(url: url, company: company, oauth: oauth, lineType: lineType, lineNumber: line,
                                                                    customerRef: value?["customer_ref"]?.stringValue ?? "business_central")))
        default:
            return .failure(FieldError("\(field).kind", "must be http, file, netsuite, business_central or none"))
        }
    }

    /// An http(s) URL without a trailing slash.
    static func httpURL(_ value: JSONValue?) -> String? {
        guard let text = value?.stringValue, let parsed = URL(string: text), ["http", "https"].contains(parsed.scheme ?? ""),
              parsed.host != nil else { return nil }
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }

    /// A connector's OAuth 2.0 client credentials: `token_url`, `client_id`, `client_secret`
    /// (`{"env"}`, `{"file"}` or `{"value"}`), `scope`, `client_auth` (`basic` or `post`).
    static func oauth(_ value: JSONValue?, field: String, environment: [String: String],
                      authentication: OAuthSettings.ClientAuthentication) -> Result<OAuthSettings, FieldError> {
        guard let tokenURL = httpURL(value?["token_url"]) else {
            return .failure(FieldError("\(field).token_url", "must be the OAuth 2.0 token endpoint's http(s) URL"))
        }
        guard let clientId = value?["client_id"]?.stringValue, !clientId.isEmpty else {
            return .failure(FieldError("\(field).client_id", "must be the OAuth 2.0 client id"))
        }
        var auth = authentication
        if let given = value?["client_auth"] {
            guard let parsed = given.stringValue.flatMap(OAuthSettings.ClientAuthentication.init(rawValue:)) else {
                return .failure(FieldError("\(field).client_auth", "must be basic or post"))
            }
            auth = parsed
        }
        switch SecretReference.read(value?["client_secret"] ?? .null, field: "\(field).client_secret", sealedAs: "", environment: environment) {
        case .failure(let error): return .failure(error)
        case .success(let read):
            guard let secret = read.value else {
                return .failure(FieldError("\(field).client_secret", "cannot be read (\(read.origin))"))
            }
            return .success(OAuthSettings(tokenURL: tokenURL, clientId: clientId, clientSecret: secret,
                                          scope: value?["scope"]?.stringValue, authentication: auth))
        }
    }
}
