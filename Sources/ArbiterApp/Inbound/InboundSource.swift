import ArbiterCore
import ArbiterPolicy
import Foundation

/// A system that sends Arbiter webhooks, configured by name (`POST /v1/inbound/{name}`): how
/// its requests are verified and mapped. Loaded from `sources.json` in the policies directory.
public struct InboundSource: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case stripe
        case zendesk
        /// Anything else: a configured verifier and a mapping script (``Mapped``).
        case mapped
    }

    /// A mapped source's verifier, script, message id and the headers its script sees.
    public struct Mapped: Sendable {
        public var verifier: MappedVerifier
        public var script: MappingScript
        /// Where the vendor's id of a message is: the idempotency key of its retries.
        public var messageId: MessageId
        /// Lower-cased names of the headers `map` is given (besides content-type).
        public var headers: [String]
        /// The body field naming the sender's type of a message (`event_type`), kept with it so
        /// operators can filter; a dotted path.
        public var typeField: [String]?

        public init(verifier: MappedVerifier, script: MappingScript, messageId: MessageId, headers: [String], typeField: [String]? = nil) {
            self.verifier = verifier
            self.script = script
            self.messageId = messageId
            self.headers = headers
            self.typeField = typeField
        }
    }

    public enum MessageId: Sendable, Equatable {
        /// A field of the JSON body, by its dotted path (`id`, `event.id`).
        case field([String])
        /// A header.
        case header(String)
        /// None: the SHA-256 of the body (a byte-identical retry is then the same message).
        case digest
    }

    public var name: String
    public var kind: Kind
    /// The signing secrets, newest first: two while one is being rotated. Empty when none could
    /// be read (the source then answers 503 so that the vendor retries once it is configured).
    public var secrets: [String]
    /// Where the secrets come from, for the message when there are none.
    public var secretOrigin: String
    /// Stripe: whether the endpoint takes live-mode events (`livemode: true`) or test-mode ones.
    public var livemode: Bool
    /// How far a signature's timestamp may be from now, either way.
    public var tolerance: TimeInterval
    /// For kind `mapped`.
    public var mapped: Mapped?
    /// Where decisions on its requests are answered (``AnswerChannel``), if anywhere.
    public var answers: AnswerChannel?

    public init(name: String, kind: Kind, secrets: [String], secretOrigin: String = "the configuration", livemode: Bool = false,
                tolerance: TimeInterval = 300, mapped: Mapped? = nil) {
        self.name = name
        self.kind = kind
        self.secrets = secrets
        self.secretOrigin = secretOrigin
        self.livemode = livemode
        self.tolerance = tolerance
        self.mapped = mapped
    }

    /// The name as events carry it (`source`) and the path takes it.
    static func validName(_ name: String) -> Bool {
        !["messages", "sources", "failures"].contains(name) && (1...64).contains(name.count)
            && name.unicodeScalars.allSatisfy { CharacterSet.lowercaseLetters.contains($0) && $0.isASCII
                || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }
    }
}

/// The configured sources, by name.
public struct SourceCatalog: Sendable {
    public private(set) var sources: [String: InboundSource] = [:]

    public init(_ sources: [InboundSource] = []) {
        for source in sources { self.sources[source.name] = source }
    }

    public subscript(name: String) -> InboundSource? { sources[name] }

    /// Puts `source` in place of the one with its name.
    mutating func replace(_ source: InboundSource) { sources[source.name] = source }

    mutating func remove(_ name: String) { sources[name] = nil }

    /// Reads `sources.json`:
    /// `{"sources": [{"name", "kind", "secrets": [{"env": NAME} | {"file": PATH} | {"value": TEXT}], "livemode"?, "tolerance_s"?}]}`;
    /// a `mapped` source also has `mapping` (a Lua file, relative to `sources.json`), `verifier`
    /// (``MappedVerifier``), `message_id` (`{"field": "id"}`, `{"header": NAME}`; default: the
    /// body's digest), `headers` (names its script is given) and `type_field` (where the body
    /// names the message's type).
    /// A secret whose variable is unset or whose file is missing is skipped; a source left with
    /// none is said in `warnings`. A file that breaks the format, or a mapping script that does
    /// not compile, is an error naming the field.
    public static func load(_ url: URL, limits: PolicyLimits = PolicyLimits(),
                            environment: [String: String] = ProcessInfo.processInfo.environment)
        throws -> (catalog: SourceCatalog, warnings: [String]) {
        guard FileManager.default.fileExists(atPath: url.path) else { return (SourceCatalog(), []) }
        let document = try JSONValue.parse(Data(contentsOf: url))
        guard let entries = document["sources"]?.arrayValue else {
            throw Refusal.invalid("sources", "\(url.lastPathComponent) must hold {\"sources\": [...]}")
        }
        var sources: [InboundSource] = [], warnings: [String] = [], errors: [FieldError] = []
        let directory = url.deletingLastPathComponent()
        for (i, entry) in entries.enumerated() {
            let field = "sources[\(i)]"
            let read = definition(entry, field: field, environment: environment) { name in
                fileScript(entry, field: field, directory: directory, limits: limits)
            }
            warnings += read.warnings
            switch read.source {
            case .success(let source):
                if sources.contains(where: { $0.name == source.name }) {
                    errors.append(FieldError("\(field).name", "\(source.name) is configured twice"))
                }
                sources.append(source)
            case .failure(let failed):
                errors += failed.errors
            }
        }
        if !errors.isEmpty { throw Refusal.invalid(errors, message: "\(url.path): " + errors.map(\.description).joined(separator: "; ")) }
        return (SourceCatalog(sources), warnings)
    }

    /// The field errors of a definition that cannot be used.
    public struct Invalid: Error, Sendable {
        public let errors: [FieldError]
    }

    /// One source from its definition — an entry of `sources.json`, or one configured through
    /// the API (``Inbox/configureSource(name:definition:by:at:)``), whose secrets given as values
    /// are stored sealed (`{"sealed", "wrapping"}`, opened with `sealing`). `script` gives a
    /// mapped source's script: read from its file, or the live version in the database.
    static func definition(_ entry: JSONValue, field: String, environment: [String: String], sealing: SecretSealing? = nil,
                           script: (String) -> Result<MappingScript, FieldError>)
        -> (source: Result<InboundSource, Invalid>, warnings: [String]) {
        var warnings: [String] = [], errors: [FieldError] = []
        let prefix = field.isEmpty ? "" : field + "."
        guard let name = entry["name"]?.stringValue, InboundSource.validName(name) else {
            return (.failure(Invalid(errors: [FieldError("\(prefix)name", "must be 1-64 lower-case letters, digits, - or _ (and not messages, sources or failures)")])), [])
        }
        guard let kind = entry["kind"]?.stringValue.flatMap(InboundSource.Kind.init(rawValue:)) else {
            return (.failure(Invalid(errors: [FieldError("\(prefix)kind", "must be one of \(InboundSource.Kind.allCases.map(\.rawValue).joined(separator: ", "))")])), [])
        }
        var secrets: [String] = [], origins: [String] = []
        for (j, secret) in (entry["secrets"]?.arrayValue ?? []).enumerated() {
            switch SecretReference.read(secret, field: "\(prefix)secrets[\(j)]", sealedAs: SecretSealing.sourceSecretName(name),
                                        environment: environment, sealing: sealing) {
            case .failure(let error): errors.append(error)
            case .success(let read):
                origins.append(read.origin)
                if let value = read.value { secrets.append(value) }
                // An unset variable is normal for the second slot (no rotation under way).
                if let warning = read.warning { warnings.append("source \(name): \(warning)") }
            }
        }
        if secrets.isEmpty {
            warnings.append("source \(name) has no signing secret (\(origins.isEmpty ? "none configured" : origins.joined(separator: ", "))): its webhooks are answered 503 until one is set")
        }
        if origins.count > 2 { errors.append(FieldError("\(prefix)secrets", "holds at most two secrets (the new and the old)")) }
        let tolerance = entry["tolerance_s"].map { $0.intValue ?? 0 } ?? 300
        if !(1...86_400).contains(tolerance) { errors.append(FieldError("\(prefix)tolerance_s", "must be 1-86400 seconds")) }
        if let live = entry["livemode"], live != .null, live.boolValue == nil { errors.append(FieldError("\(prefix)livemode", "must be true or false")) }
        var mapped: InboundSource.Mapped?
        if kind == .mapped {
            switch script(name).flatMap({ Self.mapped(entry, field: field, script: $0) }) {
            case .success(let settings): mapped = settings
            case .failure(let error): errors.append(error)
            }
        }
        var answers: AnswerChannel?
        if let given = entry["answers"], given != .null {
            switch AnswerChannel.parse(given, kind: kind, field: "\(prefix)answers", sealedAs: SecretSealing.answerSecretName(name),
                                       environment: environment, sealing: sealing) {
            case .success(let (channel, warning)):
                answers = channel
                if let warning { warnings.append("source \(name): \(warning)") }
            case .failure(let error): errors.append(error)
            }
        }
        if !errors.isEmpty { return (.failure(Invalid(errors: errors)), warnings) }
        var source = InboundSource(name: name, kind: kind, secrets: secrets,
                                   secretOrigin: origins.isEmpty ? "no secret configured" : origins.joined(separator: ", "),
                                   livemode: entry["livemode"]?.boolValue ?? false, tolerance: TimeInterval(tolerance), mapped: mapped)
        source.answers = answers
        return (.success(source), warnings)
    }

    /// A `sources.json` entry's mapping script, read from its file beside `sources.json`,
    /// compiled, and with the tests beside it passing.
    static func fileScript(_ entry: JSONValue, field: String, directory: URL, limits: PolicyLimits) -> Result<MappingScript, FieldError> {
        let prefix = field.isEmpty ? "" : field + "."
        guard let path = entry["mapping"]?.stringValue, path.hasSuffix(".lua") else {
            return .failure(FieldError("\(prefix)mapping", "must name the mapping script (a .lua file beside sources.json)"))
        }
        let file = path.hasPrefix("/") ? URL(fileURLWithPath: path) : directory.appendingPathComponent(path)
        guard let source = try? String(contentsOf: file, encoding: .utf8) else {
            return .failure(FieldError("\(prefix)mapping", "cannot read \(file.path)"))
        }
        do {
            let script = try MappingScript(file: file.lastPathComponent, source: source, limits: limits)
            // A script goes live only with its tests passing (`arbiter source test` runs the same).
            let tests = MappingTestCase.file(for: file)
            if FileManager.default.fileExists(atPath: tests.path) {
                let failures = MappingTestCase.failures(try MappingTestCase.load(tests), script: script).map { "\($0.name): expected \($0.expected)" }
                if !failures.isEmpty {
                    return .failure(FieldError("\(prefix)mapping", "\(file.lastPathComponent) fails its tests: \(failures.joined(separator: "; "))"))
                }
            }
            return .success(script)
        } catch {
            return .failure(FieldError("\(prefix)mapping", "\(error)"))
        }
    }

    /// A mapped source's settings besides its script.
    static func mapped(_ entry: JSONValue, field: String, script: MappingScript) -> Result<InboundSource.Mapped, FieldError> {
        let prefix = field.isEmpty ? "" : field + "."
        let verifier: MappedVerifier
        switch MappedVerifier.parse(entry["verifier"], field: "\(prefix)verifier") {
        case .success(let parsed): verifier = parsed
        case .failure(let error): return .failure(error)
        }
        let messageId: InboundSource.MessageId
        switch entry["message_id"] {
        case nil, .null?: messageId = .digest
        case let rule?:
            if let path = rule["field"]?.stringValue, !path.isEmpty {
                messageId = .field(path.split(separator: ".").map(String.init))
            } else if let header = rule["header"]?.stringValue, !header.isEmpty {
                messageId = .header(header.lowercased())
            } else {
                return .failure(FieldError("\(prefix)message_id", "must be {\"field\": PATH} or {\"header\": NAME}"))
            }
        }
        let listed = entry["headers"]?.arrayValue ?? []
        let headers = listed.compactMap { $0.stringValue?.lowercased() }
        if headers.count != listed.count || (entry["headers"] != nil && entry["headers"]?.arrayValue == nil) {
            return .failure(FieldError("\(prefix)headers", "must be a list of header names"))
        }
        let typeField = entry["type_field"]?.stringValue.map { $0.split(separator: ".").map(String.init) }
        return .success(InboundSource.Mapped(verifier: verifier, script: script, messageId: messageId, headers: headers, typeField: typeField))
    }
}

extension SecretSealing {
    /// The name a source's secrets are sealed under (their associated data): a sealed secret
    /// opens for its own source only.
    static func sourceSecretName(_ source: String) -> String { "inbound-source:\(source)" }
    /// The name its answers' credential is sealed under.
    static func answerSecretName(_ source: String) -> String { "inbound-source:\(source):answers" }
}
