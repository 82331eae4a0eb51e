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
    /// Account updates (a CRM's), then events: what a mapped source's script may return.
    case accounts([MappedAccount], events: [MappedEvent])
}

/// An account update a mapping script returned (`account{...}`): the fields it names change,
/// the others keep their values.
public struct MappedAccount: Sendable, Equatable {
    /// Arbiter's account id, when the sender knows it.
    public var id: String?
    /// Else the account whose external ref this is (it must exist).
    public var customer: CustomerRef?
    /// The fields, as the account sync API takes them (`status`, `tier`, `external_refs`, …).
    public var fields: [String: JSONValue]

    public init(id: String?, customer: CustomerRef?, fields: [String: JSONValue]) {
        self.id = id
        self.customer = customer
        self.fields = fields
    }
}

/// One canonical event a webhook maps to, before its account is resolved.
public struct MappedEvent: Sendable, Equatable {
    /// The event's id for idempotency (with the source's name): the vendor's message id, or an
    /// id derived from the vendor's object when two messages report one fact.
    public var id: String
    public var type: EventType
    public var occurredAt: Date
    /// The vendor's reference to the customer, resolved through the accounts' `external_refs`;
    /// nil when the message names only a payment object (``object``).
    public var customer: CustomerRef?
    /// The vendor's payment object the event is about when the message does not name the
    /// customer (a Stripe dispute names only its charge): the customer — and, when the payload
    /// has no `invoice_id`, the invoice, else the object itself — as earlier messages of the
    /// source named them (``KnownObject``).
    public var object: String?
    /// Arbiter's account id, when the sender names it (a mapped source's own tool).
    public var accountId: String?
    public var payload: [String: JSONValue]
    /// Updates of one vendor object that must apply in order (see ``Ordering/Kind``).
    public var ordering: Ordering?

    public struct Ordering: Sendable, Equatable {
        public enum Kind: Sendable, Equatable {
            /// `at` is the vendor's time of the update: one older than an update already
            /// applied is ignored.
            case newest
            /// `at` is a running total (Stripe's `amount_refunded`): what it adds beyond the
            /// highest total applied is decided, as `payload[field]`; one that adds nothing (a
            /// notice that arrived after a later one) is ignored.
            case runningTotal(field: String)
        }

        public var key: String
        public var at: Int64
        public var kind: Kind

        public init(key: String, at: Int64, kind: Kind = .newest) {
            self.key = key
            self.at = at
            self.kind = kind
        }
    }

    public init(id: String, type: EventType, occurredAt: Date, customer: CustomerRef?, object: String? = nil,
                accountId: String? = nil, payload: [String: JSONValue], ordering: Ordering? = nil) {
        self.id = id
        self.type = type
        self.occurredAt = occurredAt
        self.customer = customer
        self.object = object
        self.accountId = accountId
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

/// A vendor's payment object as a message named it: whose it is and what it paid. Learned from
/// every message of a source, so a later message that names only the object (a dispute of a
/// charge) finds its customer.
public struct KnownObject: Sendable, Equatable {
    public var id: String
    public var customer: CustomerRef
    public var invoiceId: String?

    public init(id: String, customer: CustomerRef, invoiceId: String?) {
        self.id = id
        self.customer = customer
        self.invoiceId = invoiceId
    }
}
