import ArbiterCore
import ArbiterPolicy
import Foundation

/// Webhooks in: verified by their source's own scheme, stored before they are answered,
/// mapped to canonical events, decided through the ``Intake`` like any other event (the
/// vendor's id as the idempotency key, the message as the correlation's start), and kept
/// with what became of them. A vendor's retry of a message gets the original answer; a
/// message that could not be mapped or matched to an account waits as a dead letter to be
/// replayed.
public final class Inbox: Sendable {
    /// The live sources: `sources.json`'s, with those configured through the API in place of
    /// theirs, each with its live mapping version.
    let sources: Locked<SourceCatalog>
    /// `sources.json`'s, as read at start.
    let fileSources: Locked<SourceCatalog>
    /// Those configured through the API, by name.
    let stored = Locked<[String: StoredSource]>([:])
    /// Seals secrets given through the API before they are stored.
    let sealing: SecretSealing
    let store: any InboxStore
    let accounts: Accounts
    let intake: Intake
    let metrics: ServiceMetrics
    public let failures = RecentFailures(capacity: 100)
    /// Updates of one vendor object are applied one at a time here (see ``MappedEvent/Ordering``).
    private let ordering = KeyedLock()

    public init(sources: SourceCatalog, store: any InboxStore, accounts: Accounts, intake: Intake, metrics: ServiceMetrics,
                sealing: SecretSealing = SecretSealing(key: nil)) {
        self.sources = Locked(sources)
        self.fileSources = Locked(sources)
        self.sealing = sealing
        self.store = store
        self.accounts = accounts
        self.intake = intake
        self.metrics = metrics
    }

    public var catalog: SourceCatalog { sources.withLock { $0 } }

    /// Replaces the configured sources (at start, from `sources.json`); those configured
    /// through the API take their place at ``reloadSources()``.
    public func configure(_ catalog: SourceCatalog) {
        fileSources.withLock { $0 = catalog }
        sources.withLock { $0 = catalog }
    }

    /// What the vendor is answered: the message and what became of it.
    public struct Answer: Sendable {
        public let message: InboundMessage
        /// The message was already stored and processed: this is the original answer.
        public let replayed: Bool
    }

    /// A vendor's request to `POST /v1/inbound/{source}`. Throws ``InboundRejection`` (not
    /// stored) when it fails verification, `Refusal.notFound` for an unknown source.
    public func receive(source name: String, headers: [String: String], body: [UInt8], now: Date = Date()) async throws -> Answer {
        guard let source = catalog[name] else { throw Refusal.notFound("no inbound source named '\(name)'") }
        guard !source.secrets.isEmpty else { throw SourceUnavailable(source: name, origin: source.secretOrigin) }
        let parsed: [String: JSONValue]?
        do {
            parsed = try verify(source, headers: headers, body: body, now: now)
        } catch let rejection as InboundRejection {
            metrics.inboundRejected(source: name)
            failures.record(source: name, reason: rejection.reason, at: now)
            throw rejection
        }
        let text = String(validating: body, as: UTF8.self)
        let vendorId: String? = switch source.kind {
        case .stripe: parsed?["id"]?.stringValue
        case .zendesk: headers["x-zendesk-webhook-invocation-id"]
        case .mapped: source.mapped.flatMap { Self.messageId($0.messageId, headers: headers, document: parsed) }
        }
        let externalId = vendorId ?? "sha256:\(sha256Hex(body))"
        // A built-in source's mapping is pure: it runs before the read, so that the retry check
        // and the accounts of its customers take one read.
        let premapped: InboundMapping? = switch source.kind {
        case .stripe: text != nil ? parsed.map(StripeMapping.map) : nil
        case .zendesk: text != nil ? parsed.map { ZendeskMapping.map($0, at: now) } : nil
        case .mapped: nil
        }
        var customers: [CustomerRef] = []
        if case .events(let events)? = premapped { customers = events.compactMap(\.customer) }
        let (existing, known) = try await store.lookup(source: name, externalId: externalId, customers: customers)
        if let existing { return Answer(message: existing, replayed: true) }
        let id = Identifier.make(now: now)
        let kept = Self.kept(headers, source: source)
        let vendorType: String? = switch source.kind {
        case .stripe: parsed?["type"]?.stringValue
        case .zendesk: nil
        case .mapped: source.mapped?.typeField.flatMap { Self.text(at: $0, in: parsed) }
        }
        let stored = text ?? Data(body).base64EncodedString()
        let learned = source.kind == .stripe ? parsed.map(StripeMapping.objects) ?? [] : []
        let message = { @Sendable (outcome: InboundOutcome) in
            var message = InboundMessage(id: id, source: name, externalId: externalId, vendorType: vendorType, receivedAt: Timestamp.format(now),
                                         updatedAt: Timestamp.format(Date()), headers: kept, body: stored, outcome: outcome)
            message.learned = learned
            return message
        }
        let processed = try await process(messageId: id, receivedAt: now, source: source, document: parsed, text: text,
                                          headers: headers, premapped: premapped, known: known, recording: message)
        if let written = processed.written {
            metrics.inbound(source: name, status: written.outcome.status.rawValue)
            return Answer(message: written, replayed: false)
        }
        let (recorded, inserted) = try await store.record(message(processed.outcome))
        if inserted { metrics.inbound(source: name, status: recorded.outcome.status.rawValue) }
        return Answer(message: recorded, replayed: !inserted)
    }

    /// Checks the signature (and Stripe's mode); the parsed body when it is a JSON object.
    private func verify(_ source: InboundSource, headers: [String: String], body: [UInt8],
                        now: Date) throws -> [String: JSONValue]? {
        switch source.kind {
        case .stripe:
            try WebhookSignature.stripe(header: headers["stripe-signature"], body: body, secrets: source.secrets,
                                        tolerance: source.tolerance, now: now)
        case .zendesk:
            try WebhookSignature.zendesk(signature: headers["x-zendesk-webhook-signature"],
                                         timestamp: headers["x-zendesk-webhook-signature-timestamp"], body: body,
                                         secrets: source.secrets, tolerance: source.tolerance, now: now)
        case .mapped:
            guard let mapped = source.mapped else { throw InboundRejection(.badRequest, "source \(source.name) has no mapping") }
            try mapped.verifier.verify(headers: headers, body: body, secrets: source.secrets, tolerance: source.tolerance, now: now)
        }
        let document = (try? JSONValue.parse(Data(body)))?.objectValue
        if source.kind == .stripe, let live = document?["livemode"]?.boolValue, live != source.livemode {
            throw InboundRejection(.badRequest, live ? "a live-mode event sent to a test-mode source"
                                                     : "a test-mode event sent to a live-mode source")
        }
        return document
    }

    /// A mapped source's id of a message, where its configuration says it is.
    static func messageId(_ rule: InboundSource.MessageId, headers: [String: String], document: [String: JSONValue]?) -> String? {
        switch rule {
        case .header(let name): headers[name].flatMap { $0.isEmpty ? nil : $0 }
        case .field(let path): text(at: path, in: document)
        case .digest: nil
        }
    }

    /// The text (or integer, as text) at a dotted path of the body; nil when there is none or it
    /// is longer than an id may be.
    static func text(at path: [String], in document: [String: JSONValue]?) -> String? {
        var value: JSONValue? = document.map(JSONValue.object)
        for key in path { value = value?[key] }
        switch value {
        case .string(let text)? where !text.isEmpty && text.schemaLength <= 200: return text
        case .int(let number)?: return String(number)
        default: return nil
        }
    }

    /// The headers worth keeping with a message, signatures cut to their timestamps.
    static func kept(_ headers: [String: String], source: InboundSource) -> [String: String] {
        var kept: [String: String] = [:]
        for name in ["content-type", "user-agent"] { kept[name] = headers[name] }
        switch source.kind {
        case .stripe:
            if let signature = headers["stripe-signature"] {
                kept["stripe-signature"] = signature.split(separator: ",").map { part in
                    part.hasPrefix("t=") ? String(part) : "\(part.split(separator: "=").first ?? "")=[redacted]"
                }.joined(separator: ",")
            }
        case .zendesk:
            for name in ["x-zendesk-webhook-signature-timestamp", "x-zendesk-webhook-id", "x-zendesk-webhook-invocation-id"] {
                kept[name] = headers[name]
            }
            if headers["x-zendesk-webhook-signature"] != nil { kept["x-zendesk-webhook-signature"] = "[redacted]" }
        case .mapped:
            guard let mapped = source.mapped else { break }
            for name in mapped.headers { kept[name] = headers[name] }
            if case .header(let name) = mapped.messageId { kept[name] = headers[name] }
            // What authenticates the request is never kept.
            switch mapped.verifier {
            case .hmac(let header, _, _, _), .timestamped(let header):
                if headers[header] != nil { kept[header] = "[redacted]" }
            case .basic:
                break
            }
            kept["authorization"] = nil
        }
        return kept
    }

    /// What processing a message came to, and the message when it was stored with its event's
    /// decision.
    private struct Processed {
        var outcome: InboundOutcome
        var written: InboundMessage?

        init(_ outcome: InboundOutcome, written: InboundMessage? = nil) {
            self.outcome = outcome
            self.written = written
        }
    }

    /// Maps a message and decides its events (the message's id starts their correlation).
    /// With `recording`, a message of one event is stored in the same commit as its decision
    /// (a webhook then costs one commit, not two in sequence); otherwise the caller stores it.
    private func process(messageId: String, receivedAt: Date, source: InboundSource, document: [String: JSONValue]?,
                         text: String?, headers: [String: String], premapped: InboundMapping? = nil, known: [CustomerRef: String] = [:],
                         recording: (@Sendable (InboundOutcome) -> InboundMessage)?) async throws -> Processed {
        guard text != nil else { return Processed(InboundOutcome(status: .failed, detail: "the body is not UTF-8 (kept base64-encoded)")) }
        let mapping: InboundMapping
        if let premapped {
            mapping = premapped
        } else if source.kind == .mapped, let mapped = source.mapped {
            switch try await runScript(mapped, source: source.name, document: document, text: text, headers: headers, receivedAt: receivedAt) {
            case .success(let result): mapping = result
            case .failure(let failure): return Processed(InboundOutcome(status: .failed, detail: failure.message))
            }
        } else {
            guard let document else { return Processed(InboundOutcome(status: .failed, detail: "the body is not a JSON object")) }
            mapping = source.kind == .stripe ? StripeMapping.map(document) : ZendeskMapping.map(document, at: receivedAt)
        }
        switch mapping {
        case .ignore(let reason):
            return Processed(InboundOutcome(status: .ignored, detail: reason))
        case .reject(let reason):
            return Processed(InboundOutcome(status: .failed, detail: reason))
        case .accounts(let updates, let events):
            var synced: [String] = []
            for update in updates {
                switch try await sync(update, source: source.name) {
                case .synced(let accountId): synced.append(accountId)
                case .notSynced(let outcome): return Processed(outcome)
                }
            }
            let detail = "synced account\(synced.count == 1 ? "" : "s") \(synced.joined(separator: ", "))"
            guard !events.isEmpty else { return Processed(InboundOutcome(status: .processed, detail: detail, accountId: synced.first)) }
            var processed = try await decide(events, messageId: messageId, source: source, recording: nil)
            if processed.outcome.status == .processed { processed.outcome.detail = detail }
            return processed
        case .events(let mapped):
            return try await decide(mapped, messageId: messageId, source: source, known: known, recording: recording)
        }
    }

    /// Runs a mapped source's script on a policy worker: `map(request)` gets
    /// `{body, text, headers, source, received_at}` (`body` the parsed JSON object or null,
    /// `text` the raw body when it is not JSON, `headers` those the source names).
    private func runScript(_ mapped: InboundSource.Mapped, source: String, document: [String: JSONValue]?, text: String?,
                           headers: [String: String], receivedAt: Date) async throws -> Result<InboundMapping, MappingRun.Failure> {
        let request = Self.request(mapped, source: source, document: document, text: text, headers: headers, receivedAt: receivedAt)
        let script = mapped.script
        let run = try await intake.workers.run { script.map(request) }
        metrics.inboundMapped(source: source, failed: (try? run.result.get()) == nil)
        return run.result.map { ScriptMapping.interpret($0, receivedAt: receivedAt) }
    }

    /// What `map` is given.
    static func request(_ mapped: InboundSource.Mapped, source: String, document: [String: JSONValue]?, text: String?,
                        headers: [String: String], receivedAt: Date) -> JSONValue {
        var given: [String: JSONValue] = [:]
        for name in mapped.headers + ["content-type"] { if let value = headers[name] { given[name] = .string(value) } }
        return .object([
            "body": document.map(JSONValue.object) ?? .null, "text": document == nil ? text.map(JSONValue.string) ?? .null : .null,
            "headers": .object(given), "source": .string(source), "received_at": .string(Timestamp.format(receivedAt)),
        ])
    }

    /// Applies a mapped account update: the fields it names over the account as it is, checked
    /// as the account sync API checks them. The account's id, or why the message failed.
    private func sync(_ update: MappedAccount, source: String) async throws -> Synced {
        let accountId: String
        if let id = update.id {
            accountId = id
        } else if let customer = update.customer, let found = try await accounts.accountId(for: customer) {
            accountId = found
        } else {
            let ref = update.customer.map { "\($0.system) \($0.ref)" } ?? "?"
            return .notSynced(InboundOutcome(status: .unmatched, detail: "account update for \(ref): no account has this external ref; "
                                           + "sync it with external_refs, then replay"))
        }
        let (current, _, refs) = try await accounts.get(id: accountId)
        var fields = current.json.objectValue ?? [:]
        fields["id"] = nil
        if current.status == .unknown { fields["status"] = nil }
        for (key, value) in update.fields where key != "external_refs" { fields[key] = value }
        var externalRefs: [String: String]?
        do {
            let snapshot = try AccountSyncRequest.snapshot(id: accountId, from: fields)
            if let given = update.fields["external_refs"], given != .null {
                var merged: [String: JSONValue] = refs.mapValues(JSONValue.string)
                for (system, ref) in given.objectValue ?? [:] { merged[system] = ref }
                externalRefs = try AccountSyncRequest.externalRefs(given.objectValue == nil ? given : .object(merged))
            }
            _ = try await accounts.sync(snapshot, externalRefs: externalRefs, by: "source:\(source)")
        } catch let refusal as Refusal {
            return .notSynced(InboundOutcome(status: .failed, detail: "the account update for \(accountId) is not valid: \(refusal.message)",
                                           accountId: accountId))
        }
        return .synced(accountId)
    }

    private enum Synced {
        case synced(String)
        case notSynced(InboundOutcome)
    }

    /// Resolves the events' accounts and decides them, in order.
    private func decide(_ mapped: [MappedEvent], messageId: String, source: InboundSource, known: [CustomerRef: String] = [:],
                        recording: (@Sendable (InboundOutcome) -> InboundMessage)?) async throws -> Processed {
        do {
            var resolved: [(MappedEvent, String)] = []
            for var event in mapped {
                if let object = event.object {
                    // The message names a payment object only: whose it is, as earlier messages said.
                    let known = try await store.object(source: source.name, id: object)
                    if event.customer == nil { event.customer = known?.customer }
                    if event.payload["invoice_id"] == nil { event.payload["invoice_id"] = .string(known?.invoiceId ?? object) }
                }
                if let direct = event.accountId {
                    resolved.append((event, direct))
                    continue
                }
                guard let customer = event.customer else {
                    return Processed(InboundOutcome(
                        status: .unmatched, detail: "\(event.object ?? "the object") is not known yet: its customer is learned from an "
                            + "earlier message that names it (for Stripe, subscribe the endpoint to charge.succeeded), then replay"))
                }
                var found = known[customer]
                if found == nil { found = try await accounts.accountId(for: customer) }   // not read with the retry check
                guard let accountId = found else {
                    return Processed(InboundOutcome(
                        status: .unmatched, detail: "\(customer.system) customer \(customer.ref) is no account's "
                            + "external ref: sync the account with external_refs.\(customer.system), then replay"))
                }
                resolved.append((event, accountId))
            }
            var decided: [JSONValue] = []
            var accountId: String?
            var applied: MappedEvent.Ordering?
            var written: InboundMessage?
            for (event, account) in resolved {
                accountId = account
                func canonical(_ event: MappedEvent) -> Result<Event, Refusal> {
                    Result { try Event(envelope: event.envelope(source: source.name, accountId: account, correlationId: messageId)) }
                        .mapError { $0 as? Refusal ?? Refusal.invalid([FieldError("payload", "\($0)")]) }
                }
                func invalid(_ refusal: Refusal) -> Processed {
                    Processed(InboundOutcome(status: .failed, detail: "the mapped \(event.type.rawValue) event is not valid: \(refusal.message)",
                                             accountId: account))
                }
                // Checked before taking any lock; an event whose payload the ordering does not
                // change is decided as built here.
                let built: Event
                switch canonical(event) {
                case .success(let valid): built = valid
                case .failure(let refusal): return invalid(refusal)
                }
                // The message goes in with the decision when this is its only event.
                let inbound = resolved.count == 1 ? recording.map { recording in
                    { @Sendable (summary: JSONValue) in
                        recording(InboundOutcome(status: .processed, accountId: account, events: [summary], orderingKey: event.ordering?.key,
                                                 orderingAt: event.ordering?.at))
                    }
                } : nil
                let result: Decided
                if let order = event.ordering {
                    let ordered = try await ordering.withLock("\(source.name)\u{0}\(order.key)") { () async throws -> Result<Decided, Stale> in
                        let latest = try await store.latestApplied(source: source.name, orderingKey: order.key)
                        var applying = event
                        switch order.kind {
                        case .newest:
                            if let latest, latest > order.at {
                                return .failure(Stale(detail: "an update of \(order.key) from \(latest) is already applied; "
                                                      + "this one (\(order.at)) is older"))
                            }
                        case .runningTotal(let field):
                            let base = latest ?? 0
                            guard order.at > base else {
                                return .failure(Stale(detail: "\(order.key) totals \(base) already applied; this notice (\(order.at)) adds nothing"))
                            }
                            applying.payload[field] = .int(order.at - base)
                        }
                        switch canonical(applying) {
                        case .success(let event): return .success(try await decide(event, source: source.name, inbound: inbound))
                        case .failure(let refusal): return .failure(Stale(detail: refusal.message, refusal: refusal))
                        }
                    }
                    switch ordered {
                    case .success(let outcome): result = outcome
                    case .failure(let stale):
                        if let refusal = stale.refusal { return invalid(refusal) }
                        return Processed(InboundOutcome(status: .ignored, detail: stale.detail, accountId: account))
                    }
                    applied = order
                } else {
                    result = try await decide(built, source: source.name, inbound: inbound)
                }
                decided.append(result.summary)
                written = result.written
            }
            let outcome = InboundOutcome(status: .processed, accountId: accountId, events: decided, orderingKey: applied?.key,
                                         orderingAt: applied?.at)
            return Processed(outcome, written: written)
        }
    }

    /// An update older than one already applied (or, with a refusal, one whose adjusted event
    /// does not validate).
    private struct Stale: Error {
        let detail: String
        var refusal: Refusal?
    }

    /// One event decided: what the message records of it, and the message when it was stored
    /// with the decision.
    private struct Decided {
        var summary: JSONValue
        var written: InboundMessage?
    }

    /// What a message records of an event it decided.
    private static func summary(_ event: Event, eventId: JSONValue, decisionId: JSONValue, outcome: JSONValue,
                                replayed: Bool = false) -> JSONValue {
        var fields: [String: JSONValue] = ["id": .string(event.id), "type": .string(event.type.rawValue), "event_id": eventId,
                                           "decision_id": decisionId, "outcome": outcome]
        if replayed { fields["replayed"] = .bool(true) }
        return .object(fields)
    }

    /// Decides one canonical event. `inbound` makes the message from the event's summary, to be
    /// stored with the decision.
    private func decide(_ event: Event, source: String, inbound: (@Sendable (JSONValue) -> InboundMessage)?) async throws -> Decided {
        // The message as last made for the decision (a stale context decides again): the one
        // stored when the event is decided now.
        let made = Locked<InboundMessage?>(nil)
        let recording = inbound.map { inbound in
            { @Sendable (record: DecisionRecord) -> InboundMessage in
                let message = inbound(Self.summary(event, eventId: .string(record.eventId), decisionId: .string(record.decisionId),
                                                   outcome: .string(record.decision.outcome.rawValue)))
                made.withLock { $0 = message }
                return message
            }
        }
        func summary(response body: String, replayed: Bool) -> JSONValue {
            let response = try? JSONValue.parse(Data(body.utf8))
            return Self.summary(event, eventId: response?["event_id"] ?? .null, decisionId: response?["decision"]?["id"] ?? .null,
                                outcome: response?["decision"]?["outcome"] ?? .null, replayed: replayed)
        }
        // A source that is answered gets its answer queued with the decision.
        let answering = catalog[source].flatMap { configured -> (@Sendable (DecisionRecord) -> RequesterAnswer?)? in
            guard configured.answers != nil else { return nil }
            return { record in RequesterAnswer.decision(record, source: configured) }
        }
        switch try await intake.submit(event, submittedBy: "source:\(source)", inbound: recording, answer: answering) {
        case .decided(let body):
            if let written = made.withLock({ $0 }) { return Decided(summary: written.outcome.events.first ?? .null, written: written) }
            return Decided(summary: summary(response: body, replayed: false))
        case .replayed(let body):
            return Decided(summary: summary(response: body, replayed: true))
        case .conflict(let eventId):
            // Another message already reported this fact (Stripe's invoice.paid and
            // invoice.payment_succeeded for one payment): decided once, under the first.
            return Decided(summary: .object(["id": .string(event.id), "type": .string(event.type.rawValue), "event_id": .string(eventId),
                                             "already_recorded": .bool(true)]))
        }
    }

    // MARK: Dead letters

    public func message(id: String) async throws -> InboundMessage {
        guard let message = try await store.message(id: id) else { throw Refusal.notFound("no inbound message with id '\(id)'") }
        return message
    }

    public func messages(_ filter: InboundFilter) async throws -> Page<InboundMessage> {
        try await store.messages(filter)
    }

    /// Processes a dead letter again (after the mapping was fixed or the account synced),
    /// audited as `inbound.replayed` by `actor`.
    public func replay(id: String, by actor: String) async throws -> InboundMessage {
        let message = try await message(id: id)
        guard message.outcome.status.isDeadLetter else {
            throw Refusal.conflict("message \(id) is \(message.outcome.status.rawValue): only failed or unmatched messages are replayed")
        }
        guard let source = catalog[message.source] else {
            throw Refusal.conflict("message \(id) came from source '\(message.source)', which is no longer configured")
        }
        let bodyIsText = message.outcome.detail?.contains("not UTF-8") != true
        let document = bodyIsText ? (try? JSONValue.parse(Data(message.body.utf8)))?.objectValue : nil
        let outcome = try await process(messageId: message.id, receivedAt: Timestamp.parse(message.receivedAt) ?? Date(), source: source,
                                        document: document, text: bodyIsText ? message.body : nil, headers: message.headers,
                                        recording: nil).outcome
        let audit = AuditDraft(actor: actor, kind: "inbound.replayed", subject: message.id, correlationId: message.id,
                               at: Timestamp.format(Date()),
                               dataJSON: CanonicalJSON.encode(.object(["source": .string(message.source), "external_id": .string(message.externalId),
                                                                       "from": .string(message.outcome.status.rawValue),
                                                                       "to": .string(outcome.status.rawValue)])))
        let replayed = try await store.replayed(message.id, outcome, at: Date(), audit: audit)
        metrics.inbound(source: message.source, status: "replayed")
        return replayed
    }
}

// MARK: Mapping versions

extension Inbox {
    /// A mapped source by name (404 when there is none, 409 when it is not mapped).
    func mappedSource(_ name: String) throws -> (InboundSource, InboundSource.Mapped) {
        guard let source = catalog[name] else { throw Refusal.notFound("no inbound source named '\(name)'") }
        guard let mapped = source.mapped else { throw Refusal.conflict("source \(name) is a \(source.kind.rawValue) source: it has no mapping script") }
        return (source, mapped)
    }

    /// Compiles a script and runs its tests (at least one case): the gate every version passes.
    /// `field` is where the request holds the script and tests (`mapping.` in a source's
    /// definition).
    func gate(source: String, file: String, script text: String, tests: JSONValue?, field: String = "") throws -> (MappingScript, cases: Int) {
        let script: MappingScript
        do {
            script = try MappingScript(file: file, source: text, limits: intake.engine.limits)
        } catch {
            throw Refusal.invalid("\(field)script", "\(error)")
        }
        guard let tests, tests != .null else { throw Refusal.invalid("\(field)tests", "a mapping is published with its test cases: {\"cases\": [...]}") }
        let cases: [MappingTestCase]
        do {
            cases = try MappingTestCase.parse(tests, file: "tests")
        } catch {
            throw Refusal.invalid("\(field)tests", "\(error)")
        }
        guard !cases.isEmpty else { throw Refusal.invalid("\(field)tests", "has no cases: a mapping is never live untested") }
        let failures = MappingTestCase.failures(cases, script: script, source: source).map {
            FieldError("\(field)tests.cases[\($0.index)]", "\($0.name): expected \($0.expected)")
        }
        if !failures.isEmpty { throw Refusal.invalid(failures, title: "Tests failed") }
        return (script, cases.count)
    }

    /// Publishes a new version of a mapped source's script, compiled and with its tests passing;
    /// audited as `mapping.published`. Publishing the same script again returns the stored one.
    public func publishMapping(source name: String, script text: String, tests: JSONValue?, file: String? = nil,
                               by actor: String, at now: Date = Date()) async throws -> (version: MappingVersion, cases: Int) {
        let (_, mapped) = try mappedSource(name)
        let file = file ?? mapped.script.file
        let (script, cases) = try gate(source: name, file: file, script: text, tests: tests)
        let version = MappingVersion(source: name, version: script.version, file: file, script: text, tests: tests, publishedBy: actor,
                                     publishedAt: Timestamp.format(now))
        let audit = Self.mappingAudit("mapping.published", source: name, by: actor, at: now,
                                      ["version": .string(script.version), "file": .string(file), "tests": .int(Int64(cases))])
        return (try await store.publishMapping(version, audit: audit), cases)
    }

    /// Makes a published version live, here at once and on every other instance at its next
    /// look; audited as `mapping.activated` with the version it replaced.
    public func activateMapping(source name: String, version: String, by actor: String, at now: Date = Date()) async throws -> MappingVersion {
        let (_, mapped) = try mappedSource(name)
        guard let stored = try await store.mappingVersion(source: name, version: version) else {
            throw Refusal.notFound("source \(name) has no mapping version \(version)")
        }
        let script = try MappingScript(file: stored.file, source: stored.script, limits: intake.engine.limits)
        let audit = Self.mappingAudit("mapping.activated", source: name, by: actor, at: now,
                                      ["version": .string(version), "previous": .string(mapped.script.version)])
        try await store.activateMapping(source: name, version: version, by: actor, at: now, audit: audit)
        install(script, source: name)
        var live = stored
        live.active = true
        return live
    }

    /// The audit entry of a mapping change: the source and what `data` says.
    static func mappingAudit(_ kind: String, source: String, by actor: String, at now: Date, _ data: [String: JSONValue]) -> AuditDraft {
        var fields = data
        fields["source"] = .string(source)
        return AuditDraft(actor: actor, kind: kind, subject: source, correlationId: nil, at: Timestamp.format(now),
                          dataJSON: CanonicalJSON.encode(.object(fields)))
    }

    public func mappingVersions(source name: String) async throws -> [MappingVersion] {
        _ = try mappedSource(name)
        return try await store.mappingVersions(source: name)
    }

    private func install(_ script: MappingScript, source name: String) {
        sources.withLock { catalog in
            guard var source = catalog[name], source.mapped != nil else { return }
            source.mapped?.script = script
            catalog.replace(source)
        }
    }

    /// At start: each mapped source's file is published (as `actor`) and made live when it is
    /// new (edited since it was last published) or the source has no live version; otherwise the
    /// live version in the database — one activated through the API — stays live.
    /// A source configured through the API is left alone: its definition takes the file's place.
    public func installFileMappings(directory: URL, by actor: String = "system:startup") async throws {
        let active = try await store.activeMappings()
        let overridden = Set(try await store.storedSources().map(\.name))
        for source in fileSources.withLock({ $0 }).sources.values.sorted(by: { $0.name < $1.name })
        where source.kind == .mapped && !overridden.contains(source.name) {
            guard let mapped = source.mapped else { continue }
            let script = mapped.script
            let known = try await store.mappingVersion(source: source.name, version: script.version)
            if known == nil {
                let testFile = MappingTestCase.file(for: directory.appendingPathComponent(script.file))
                let tests = (try? Data(contentsOf: testFile)).flatMap { try? JSONValue.parse($0) }
                let now = Date()
                let version = MappingVersion(source: source.name, version: script.version, file: script.file, script: script.source,
                                             tests: tests, publishedBy: actor, publishedAt: Timestamp.format(now))
                _ = try await store.publishMapping(version, audit: Self.mappingAudit("mapping.published", source: source.name, by: actor, at: now,
                                                                                     ["version": .string(script.version), "file": .string(script.file)]))
            }
            if known == nil || active[source.name] == nil {
                let now = Date()
                let audit = Self.mappingAudit("mapping.activated", source: source.name, by: actor, at: now,
                                              ["version": .string(script.version), "previous": active[source.name].map(JSONValue.string) ?? .null])
                try await store.activateMapping(source: source.name, version: script.version, by: actor, at: now, audit: audit)
            }
        }
    }

    /// What a version would make of a source's latest stored messages, next to the live one's:
    /// how many map, are ignored or fail, and which come out differently. Nothing is written.
    public func dryRun(source name: String, version: String, limit: Int) async throws -> MappingDryRun {
        let (_, mapped) = try mappedSource(name)
        guard let stored = try await store.mappingVersion(source: name, version: version) else {
            throw Refusal.notFound("source \(name) has no mapping version \(version)")
        }
        let candidate = try MappingScript(file: stored.file, source: stored.script, limits: intake.engine.limits)
        let live = mapped.script
        var report = MappingDryRun(source: name, version: version, liveVersion: live.version)
        for message in try await store.recentMessages(source: name, limit: limit) {
            let document = (try? JSONValue.parse(Data(message.body.utf8)))?.objectValue
            let receivedAt = Timestamp.parse(message.receivedAt) ?? Date()
            let request = Self.request(mapped, source: name, document: document, text: message.body, headers: message.headers,
                                       receivedAt: receivedAt)
            let (after, before) = try await intake.workers.run {
                (MappingDryRun.Result(candidate.map(request), receivedAt: receivedAt), MappingDryRun.Result(live.map(request), receivedAt: receivedAt))
            }
            report.count(after, before: before, message: message.id)
        }
        return report
    }
}

/// A dry run of a mapping version over stored messages (``Inbox/dryRun(source:version:limit:)``).
public struct MappingDryRun: Sendable {
    public enum Result: Sendable, Equatable {
        case mapped(InboundMapping)
        case ignored(String)
        case failed(String)

        init(_ run: MappingRun, receivedAt: Date) {
            switch run.result {
            case .failure(let failure): self = .failed(failure.message)
            case .success(let value):
                switch ScriptMapping.interpret(value, receivedAt: receivedAt) {
                case .ignore(let reason): self = .ignored(reason)
                case .reject(let reason): self = .failed(reason)
                case let mapping: self = .mapped(mapping)
                }
            }
        }

        /// One line for a person.
        public var summary: String {
            switch self {
            case .ignored(let reason): return "ignored: \(reason)"
            case .failed(let reason): return "failed: \(reason)"
            case .mapped(let mapping):
                var events: [MappedEvent] = [], accounts = 0
                if case .events(let list) = mapping { events = list }
                if case .accounts(let updates, let list) = mapping { events = list; accounts = updates.count }
                var parts = events.map { "\($0.type.rawValue) \($0.id) \(CanonicalJSON.string(.object($0.payload)))" }
                if accounts > 0 { parts.insert("\(accounts) account update(s)", at: 0) }
                return "mapped: " + parts.joined(separator: "; ")
            }
        }
    }

    public struct Change: Sendable {
        public let messageId: String
        public let before: String
        public let after: String
    }

    public let source: String
    public let version: String
    public let liveVersion: String
    public private(set) var messages = 0
    public private(set) var mapped = 0
    public private(set) var ignored = 0
    public private(set) var failed = 0
    public private(set) var changed = 0
    /// The first changes (at most 20).
    public private(set) var changes: [Change] = []

    init(source: String, version: String, liveVersion: String) {
        self.source = source
        self.version = version
        self.liveVersion = liveVersion
    }

    mutating func count(_ after: Result, before: Result, message: String) {
        messages += 1
        switch after {
        case .mapped: mapped += 1
        case .ignored: ignored += 1
        case .failed: failed += 1
        }
        if after != before {
            changed += 1
            if changes.count < 20 { changes.append(Change(messageId: message, before: before.summary, after: after.summary)) }
        }
    }
}

/// A source with no signing secret: nothing it sends can be verified yet (answered 503, so
/// the vendor retries once the secret is configured).
public struct SourceUnavailable: Error, Sendable {
    public let source: String
    public let origin: String
}

/// The latest requests refused by verification, for operators finding a wrong secret: kept in
/// memory, bounded, newest last. They are never stored as messages.
public final class RecentFailures: Sendable {
    public struct Failure: Sendable {
        public let source: String
        public let reason: String
        public let at: Date
    }

    private let capacity: Int
    private let entries = Locked<[Failure]>([])

    init(capacity: Int) {
        self.capacity = capacity
    }

    func record(source: String, reason: String, at: Date) {
        entries.withLock { entries in
            entries.append(Failure(source: source, reason: reason, at: at))
            if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
        }
    }

    public var all: [Failure] { entries.withLock { $0 } }
}
