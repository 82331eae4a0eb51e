import ArbiterCore
import Foundation

/// Webhooks that passed verification, stored before they are answered, with what became of
/// them. One message per source and vendor message id: a vendor's retry finds the original.
///
/// A message is written once, when it is processed (with its outcome, in a group commit), so
/// that a webhook costs the inbox one shared commit besides its decisions. A message is never
/// answered before it is stored; one whose processing did not finish (a crash, the database
/// away) was not answered with a 2xx either, and the vendor's retry processes it again — the
/// events it decided meanwhile are found by their idempotency keys, not decided twice.
public protocol InboxStore: Sendable {
    /// Stores a processed message, or returns the one already stored under its source and
    /// external id (`inserted` false: a retry that raced the first delivery).
    func record(_ message: InboundMessage) async throws -> (message: InboundMessage, inserted: Bool)

    /// The message stored under a source and the vendor's id, if any.
    func message(source: String, externalId: String) async throws -> InboundMessage?

    /// In one read: the message stored under a source and the vendor's id, if any, and the
    /// accounts the given customers resolve to (those that do) — what a webhook needs before
    /// it is decided.
    func lookup(source: String, externalId: String, customers: [CustomerRef]) async throws
        -> (message: InboundMessage?, accounts: [CustomerRef: String])

    /// Records what a replay came to, with its audit entry, in one transaction.
    func replayed(_ id: String, _ outcome: InboundOutcome, at: Date, audit: AuditDraft) async throws -> InboundMessage

    func message(id: String) async throws -> InboundMessage?

    /// Messages newest first, one page.
    func messages(_ filter: InboundFilter) async throws -> Page<InboundMessage>

    /// The vendor's time of the latest update applied (status `processed`) for an ordering key
    /// of a source: an update older than it is ignored.
    func latestApplied(source: String, orderingKey: String) async throws -> Int64?

    /// A payment object earlier messages of a source named (``InboundMessage/learned``).
    func object(source: String, id: String) async throws -> KnownObject?

    // MARK: Mapping versions

    /// Stores a mapping version with its audit entry, or returns the one already stored under
    /// the same source and version (the same script).
    func publishMapping(_ version: MappingVersion, audit: AuditDraft) async throws -> MappingVersion
    /// Makes a stored version the source's live one, with its audit entry; other instances
    /// load it (the live-configuration generation moves on).
    func activateMapping(source: String, version: String, by actor: String, at: Date, audit: AuditDraft) async throws
    /// A source's versions, newest first, with which is live.
    func mappingVersions(source: String) async throws -> [MappingVersion]
    func mappingVersion(source: String, version: String) async throws -> MappingVersion?
    /// The live version of each source that has one.
    func activeMappings() async throws -> [String: String]
    /// The newest stored messages of a source (for a dry run).
    func recentMessages(source: String, limit: Int) async throws -> [InboundMessage]

    // MARK: Sources configured through the API

    /// Stores a source's definition in place of the one of its name, with the mapping version it
    /// uses published (when new) and made live, and its audit entry, in one transaction; other
    /// instances load it (the live-configuration generation moves on). True when the source was
    /// not stored before.
    func saveSource(_ source: StoredSource, mapping: MappingVersion?, audit: AuditDraft) async throws -> Bool
    /// Removes a stored source and which mapping version is live for it (a `sources.json`
    /// source of its name comes back, with its file's script), with its audit entry; false when
    /// none was stored.
    func removeSource(name: String, audit: AuditDraft) async throws -> Bool
    func storedSources() async throws -> [StoredSource]
}

/// A source configured through the API: it takes the place of a `sources.json` source of its
/// name, on every instance, until it is removed.
/// A source's definition as a `sources.json` entry holds it (without `mapping`: the script is the
/// live mapping version), secrets given as values sealed (``SecretSealing``).
public typealias StoredSource = StoredDefinition

/// One version of a mapped source's script: the SHA-256 of the script names it.
public struct MappingVersion: Sendable, Equatable {
    public var source: String
    public var version: String
    public var file: String
    public var script: String
    /// `{"cases": [...]}`, as beside the file.
    public var tests: JSONValue?
    public var publishedBy: String
    public var publishedAt: String
    public var active: Bool

    public init(source: String, version: String, file: String, script: String, tests: JSONValue?, publishedBy: String,
                publishedAt: String, active: Bool = false) {
        self.source = source
        self.version = version
        self.file = file
        self.script = script
        self.tests = tests
        self.publishedBy = publishedBy
        self.publishedAt = publishedAt
        self.active = active
    }
}

/// One stored webhook and what became of it.
public struct InboundMessage: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable {
        /// Mapped and its events decided.
        case processed
        /// Accepted, nothing to decide.
        case ignored
        /// The body could not be mapped: a dead letter.
        case failed
        /// The vendor's customer is no account's external ref yet: a dead letter until synced.
        case unmatched

        /// The statuses a replay takes a message from.
        public var isDeadLetter: Bool { self == .failed || self == .unmatched }
    }

    public var id: String
    public var source: String
    /// The vendor's id of the message (Stripe's `evt_…`, Zendesk's invocation id); the
    /// idempotency key.
    public var externalId: String
    /// The vendor's type of the message (`invoice.payment_failed`), when it has one.
    public var vendorType: String?
    public var receivedAt: String
    public var updatedAt: String
    /// The headers that matter, secrets redacted.
    public var headers: [String: String]
    /// The raw body as text (a body that is not UTF-8 cannot be JSON: it is kept base64-encoded
    /// and the message fails with that said).
    public var body: String
    public var outcome: InboundOutcome
    /// How many times it was processed (1, plus one per replay).
    public var attempts: Int64
    /// The payment objects the message named with their customer, stored with it (not part of
    /// the message as read back).
    public var learned: [KnownObject] = []

    public init(id: String, source: String, externalId: String, vendorType: String?, receivedAt: String, updatedAt: String,
                headers: [String: String], body: String, outcome: InboundOutcome, attempts: Int64 = 1) {
        self.id = id
        self.source = source
        self.externalId = externalId
        self.vendorType = vendorType
        self.receivedAt = receivedAt
        self.updatedAt = updatedAt
        self.headers = headers
        self.body = body
        self.outcome = outcome
        self.attempts = attempts
    }

    /// The headers as stored: a JSON object, keys sorted.
    public var headersJSON: String { CanonicalJSON.string(.object(headers.mapValues(JSONValue.string))) }

    /// Headers read back from ``headersJSON``.
    public static func headers(json text: String?) -> [String: String] {
        (StoredJSON.value(text).objectValue ?? [:]).compactMapValues(\.stringValue)
    }
}

/// What processing a message came to.
public struct InboundOutcome: Sendable, Equatable {
    public var status: InboundMessage.Status
    /// Why it was ignored, failed or unmatched.
    public var detail: String?
    public var accountId: String?
    /// The events decided for it: `{id, type, event_id, decision_id, outcome, replayed?, already_recorded?}` each.
    public var events: [JSONValue]
    /// The vendor object whose updates apply in order, and this update's time (``MappedEvent/Ordering``).
    public var orderingKey: String?
    public var orderingAt: Int64?

    public init(status: InboundMessage.Status, detail: String? = nil, accountId: String? = nil, events: [JSONValue] = [],
                orderingKey: String? = nil, orderingAt: Int64? = nil) {
        self.status = status
        self.detail = detail
        self.accountId = accountId
        self.events = events
        self.orderingKey = orderingKey
        self.orderingAt = orderingAt
    }

    public var eventsJSON: String { CanonicalJSON.string(.array(events)) }
}

public struct InboundFilter: Sendable {
    public var source: String?
    public var status: InboundMessage.Status?
    /// The cursor: messages with ids below it (newest first).
    public var before: String?
    public var limit: Int

    public init(source: String? = nil, status: InboundMessage.Status? = nil, before: String? = nil, limit: Int = 50) {
        self.source = source
        self.status = status
        self.before = before
        self.limit = limit
    }
}
