import Foundation

/// What a source's mapping makes of one verified webhook.
public enum InboundMapping: Sendable, Equatable {
    /// Canonical events to decide, each for the account the vendor's customer resolves to.
    case events([MappedEvent])
    /// Accepted and recorded, nothing to decide (a type Arbiter does not act on, an update
    /// older than one already applied).
    case ignore(String)
    /// The message cannot be mapped: a dead letter, replayable after the mapping is fixed.
    case reject(String)
}

/// One canonical event a webhook maps to, before its account is resolved.
public struct MappedEvent: Sendable, Equatable {
    /// The event's id for idempotency (with the source's name): the vendor's message id, or an
    /// id derived from the vendor's object when two messages report one fact.
    public var id: String
    public var type: EventType
    public var occurredAt: Date
    /// The vendor's reference to the customer, resolved through the accounts' `external_refs`.
    public var customer: CustomerRef
    public var payload: [String: JSONValue]
    /// Updates of one vendor object that must apply in order: the object and the vendor's
    /// time of the update. An update older than one already applied is ignored.
    public var ordering: Ordering?

    public struct Ordering: Sendable, Equatable {
        public var key: String
        public var at: Int64

        public init(key: String, at: Int64) {
            self.key = key
            self.at = at
        }
    }

    public init(id: String, type: EventType, occurredAt: Date, customer: CustomerRef, payload: [String: JSONValue],
                ordering: Ordering? = nil) {
        self.id = id
        self.type = type
        self.occurredAt = occurredAt
        self.customer = customer
        self.payload = payload
        self.ordering = ordering
    }

    /// The canonical envelope, once the account is known.
    public func envelope(source: String, accountId: String, correlationId: String) -> JSONValue {
        .object(["id": .string(id), "type": .string(type.rawValue), "source": .string(source),
                 "occurred_at": .string(Timestamp.format(occurredAt)), "account_id": .string(accountId),
                 "correlation_id": .string(correlationId), "payload": .object(payload)])
    }
}

/// A vendor's id of a customer, in one of the systems accounts carry `external_refs` for
/// (`stripe`, `zendesk_org`, …).
public struct CustomerRef: Sendable, Hashable {
    public var system: String
    public var ref: String

    public init(system: String, ref: String) {
        self.system = system
        self.ref = ref
    }
}
