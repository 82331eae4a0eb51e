import ArbiterCore
import ArbiterPolicy
import Foundation

/// One event decided as the service would — against the active policies, or with some at other
/// stored versions — with every policy's reasons and log; nothing stored, nothing sent.
/// `POST /v1/simulate` and the console's workbench both come here.
public struct Simulation: Sendable {
    public struct Request: Sendable {
        public var event: Event
        /// Nil: the account's context as the database holds it now.
        public var context: PolicyContext?
        /// Policy name → stored version swapped in for the active one.
        public var versions: [String: String]

        /// Reads `{"event", "context"?, "versions"?}`; every problem named by its field.
        public static func parse(_ body: [String: JSONValue]) throws -> Request {
            var errors = RequestFields.unknown(body, allowed: ["event", "context", "versions"])
            var event: Event?
            do {
                guard let envelope = body["event"] else { throw Refusal.invalid([FieldError("", "is required: an event as POST /v1/events takes it")]) }
                event = try Event(envelope: envelope)
            } catch let invalid as Refusal {
                errors += invalid.errors.map { FieldError($0.field.isEmpty ? "event" : "event.\($0.field)", $0.message) }
            }
            var versions: [String: String] = [:]
            switch body["versions"] {
            case nil, .null?: break
            case .object(let fields)?:
                for (name, value) in fields.sorted(by: { $0.key < $1.key }) {
                    if case .string(let version) = value { versions[name] = version }
                    else { errors.append(FieldError("versions.\(name)", "must be a version (the SHA-256 of the source, as GET /v1/policies/{name}/versions lists)")) }
                }
            default: errors.append(FieldError("versions", "must be an object of policy name to version"))
            }
            var given: PolicyContext?
            if let event, let json = body["context"], json != .null {
                do {
                    given = try PolicyContext(json: json, accountId: event.accountId, defaultNow: Int64(Date().timeIntervalSince1970))
                } catch let invalid as Refusal {
                    errors += invalid.errors
                }
            }
            guard errors.isEmpty, let event else { throw Refusal.invalid(errors) }
            return Request(event: event, context: given, versions: versions)
        }
    }

    public struct Result: Sendable {
        public let decision: Decision
        public let context: PolicyContext
        /// Each policy's version that decided.
        public let versions: [String: String]
    }

    let lifecycle: PolicyLifecycle
    let accounts: Accounts

    public init(lifecycle: PolicyLifecycle, accounts: Accounts) {
        self.lifecycle = lifecycle
        self.accounts = accounts
    }

    public func run(_ request: Request) async throws -> Result {
        let context: PolicyContext
        if let given = request.context { context = given } else { context = try await accounts.context(of: request.event.accountId) }
        let (decision, used) = try await lifecycle.simulate(request.event, context: context, versions: request.versions)
        return Result(decision: decision, context: context, versions: used)
    }
}
