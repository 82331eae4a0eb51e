import ArbiterCore
import ArbiterERP
import Foundation

/// The one ERP connector a service delivers through.
public enum ERPTarget: Sendable, Hashable {
    /// Actions wait in the outbox; /readyz says so.
    case none
    /// POST to `url`, signed with `secret`.
    case http(url: String, secret: String)
    /// NDJSON lines in daily files under `directory`, fsynced.
    case spool(directory: String)
    /// NetSuite's CSV import layout in daily files under `directory`, fsynced.
    case netsuiteCSV(directory: String, layout: NetSuiteCSVLayout)
    /// NetSuite's REST record service (credit memos and refunds), OAuth 2.0.
    case netsuite(NetSuiteProfile)
    /// Business Central's API v2.0 (credit memos, posted), OAuth 2.0.
    case businessCentral(BusinessCentralProfile)

    var name: String {
        switch self {
        case .none: "none"
        case .http: "http"
        case .spool, .netsuiteCSV: "file"
        case .netsuite: "netsuite"
        case .businessCentral: "business_central"
        }
    }
}
