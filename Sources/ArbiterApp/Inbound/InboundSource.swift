import ArbiterCore
import Foundation

/// A system that sends Arbiter webhooks, configured by name (`POST /v1/inbound/{name}`): how
/// its requests are verified and mapped. Loaded from `sources.json` in the policies directory.
public struct InboundSource: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case stripe
        case zendesk
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

    public init(name: String, kind: Kind, secrets: [String], secretOrigin: String = "the configuration", livemode: Bool = false,
                tolerance: TimeInterval = 300) {
        self.name = name
        self.kind = kind
        self.secrets = secrets
        self.secretOrigin = secretOrigin
        self.livemode = livemode
        self.tolerance = tolerance
    }

    /// The name as events carry it (`source`) and the path takes it.
    static func validName(_ name: String) -> Bool {
        name != "messages" && (1...64).contains(name.count)
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

    /// Reads `sources.json`:
    /// `{"sources": [{"name", "kind", "secrets": [{"env": NAME} | {"file": PATH} | {"value": TEXT}], "livemode"?, "tolerance_s"?}]}`.
    /// A secret whose variable is unset or whose file is missing is skipped; a source left with
    /// none is said in `warnings`. A file that breaks the format is an error naming the field.
    public static func load(_ url: URL, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws -> (catalog: SourceCatalog, warnings: [String]) {
        guard FileManager.default.fileExists(atPath: url.path) else { return (SourceCatalog(), []) }
        let document = try JSONValue.parse(Data(contentsOf: url))
        guard let entries = document["sources"]?.arrayValue else {
            throw Refusal.invalid("sources", "\(url.lastPathComponent) must hold {\"sources\": [...]}")
        }
        var sources: [InboundSource] = [], warnings: [String] = [], errors: [FieldError] = []
        for (i, entry) in entries.enumerated() {
            let field = "sources[\(i)]"
            guard let name = entry["name"]?.stringValue, InboundSource.validName(name) else {
                errors.append(FieldError("\(field).name", "must be 1-64 lower-case letters, digits, - or _ (and not \"messages\")"))
                continue
            }
            guard let kind = entry["kind"]?.stringValue.flatMap(InboundSource.Kind.init(rawValue:)) else {
                errors.append(FieldError("\(field).kind", "must be one of \(InboundSource.Kind.allCases.map(\.rawValue).joined(separator: ", "))"))
                continue
            }
            var secrets: [String] = [], origins: [String] = []
            for (j, secret) in (entry["secrets"]?.arrayValue ?? []).enumerated() {
                if let variable = secret["env"]?.stringValue {
                    origins.append("$\(variable)")
                    // An unset variable is normal for the second slot (no rotation under way).
                    if let value = environment[variable], !value.isEmpty { secrets.append(value) }
                } else if let path = secret["file"]?.stringValue {
                    origins.append(path)
                    if let data = try? SecretFile.read(path), let text = String(data: data, encoding: .utf8)?
                        .trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty {
                        secrets.append(text)
                    } else {
                        warnings.append("source \(name): cannot read the secret file \(path)")
                    }
                } else if let value = secret["value"]?.stringValue, !value.isEmpty {
                    origins.append("sources.json")
                    secrets.append(value)
                } else {
                    errors.append(FieldError("\(field).secrets[\(j)]", "must be {\"env\": NAME}, {\"file\": PATH} or {\"value\": TEXT}"))
                }
            }
            if secrets.isEmpty {
                warnings.append("source \(name) has no signing secret (\(origins.joined(separator: ", "))): its webhooks are answered 503 until one is set")
            }
            if origins.count > 2 { errors.append(FieldError("\(field).secrets", "holds at most two secrets (the new and the old)")) }
            let tolerance = entry["tolerance_s"]?.intValue ?? 300
            if !(1...86_400).contains(tolerance) { errors.append(FieldError("\(field).tolerance_s", "must be 1-86400 seconds")) }
            if sources.contains(where: { $0.name == name }) { errors.append(FieldError("\(field).name", "\(name) is configured twice")) }
            sources.append(InboundSource(name: name, kind: kind, secrets: secrets,
                                         secretOrigin: origins.isEmpty ? "no secret configured" : origins.joined(separator: ", "),
                                         livemode: entry["livemode"]?.boolValue ?? false, tolerance: TimeInterval(tolerance)))
        }
        if !errors.isEmpty { throw Refusal.invalid(errors, message: "\(url.path): " + errors.map(\.description).joined(separator: "; ")) }
        return (SourceCatalog(sources), warnings)
    }
}
