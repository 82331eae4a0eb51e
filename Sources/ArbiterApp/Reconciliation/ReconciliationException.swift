import ArbiterCore
import Foundation

/// A reconciliation exception as work: found by a run, open until someone resolves it (or a
/// later run of the same mapping finds it matched). One open exception per mapping and subject
/// (the action, or the ERP's row when Arbiter has no action for it), however many runs find it.
public struct ReconciliationException: Sendable, Hashable {
    public enum Resolution: String, Sendable, CaseIterable {
        /// A new attempt under the same idempotency key (the outbox's retry).
        case resend
        /// The action is never sent (the outbox's cancel).
        case cancel
        /// Accepted as it is, with a comment: a manual match.
        case accept
        /// A later run found it matched.
        case matched
    }

    public var id: String
    public var mapping: String
    /// The action id, or `erp:<key>` / `erp:document:<number>` / `erp:line:<n>` for an ERP row
    /// of no action.
    public var subject: String
    public var firstRun: String
    public var lastRun: String
    public var `class`: String
    public var reason: String
    public var actionId: String?
    public var erpKey: String?
    public var erpDocument: String?
    public var amountMinor: Int64?
    public var currency: String?
    public var owner: String?
    /// `open` or `resolved`.
    public var state: String
    public var resolution: Resolution?
    public var resolvedBy: String?
    public var resolvedAt: String?
    public var comment: String?
    public var createdAt: String
    public var updatedAt: String

    public init(id: String, mapping: String, subject: String, firstRun: String, lastRun: String, class: String, reason: String,
                actionId: String?, erpKey: String?, erpDocument: String?, amountMinor: Int64?, currency: String?, owner: String?,
                state: String = "open", resolution: Resolution? = nil, resolvedBy: String? = nil, resolvedAt: String? = nil,
                comment: String? = nil, createdAt: String, updatedAt: String) {
        self.id = id
        self.mapping = mapping
        self.subject = subject
        self.firstRun = firstRun
        self.lastRun = lastRun
        self.class = `class`
        self.reason = reason
        self.actionId = actionId
        self.erpKey = erpKey
        self.erpDocument = erpDocument
        self.amountMinor = amountMinor
        self.currency = currency
        self.owner = owner
        self.state = state
        self.resolution = resolution
        self.resolvedBy = resolvedBy
        self.resolvedAt = resolvedAt
        self.comment = comment
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    public var isOpen: Bool { state == "open" }

    public var json: JSONValue {
        func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        return .object(["id": .string(id), "mapping": .string(mapping), "subject": .string(subject), "first_run": .string(firstRun),
                        "last_run": .string(lastRun), "class": .string(self.class), "reason": .string(reason),
                        "action_id": text(actionId), "erp_key": text(erpKey), "erp_document": text(erpDocument),
                        "amount_minor": amountMinor.map(JSONValue.int) ?? .null, "currency": text(currency), "owner": text(owner),
                        "state": .string(state), "resolution": text(resolution?.rawValue), "resolved_by": text(resolvedBy),
                        "resolved_at": text(resolvedAt), "comment": text(comment), "created_at": .string(createdAt),
                        "updated_at": .string(updatedAt)])
    }
}

/// A column mapping (``ERPColumnMapping``'s JSON) saved through the API.
public typealias StoredMapping = StoredDefinition
