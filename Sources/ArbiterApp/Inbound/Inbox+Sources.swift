import ArbiterCore
import ArbiterPolicy
import Foundation

/// Sources configured through the API (`PUT /v1/inbound/sources/{name}`): stored in the
/// database, they take the place of a `sources.json` source of the same name on every
/// instance without a restart, and stay until removed.
extension Inbox {
    /// The keys a definition may have (a misspelt one is refused, not ignored).
    static let definitionKeys: Set<String> = ["kind", "secrets", "livemode", "tolerance_s", "verifier", "message_id", "headers",
                                              "type_field", "mapping", "answers"]

    /// How a source is configured: through the API (with who changed it last) or in
    /// `sources.json`.
    public func storedSource(_ name: String) -> StoredSource? { stored.withLock { $0[name] } }

    public var storedSourcesByName: [String: StoredSource] { stored.withLock { $0 } }

    /// Adds or replaces a source, as `sources.json` defines one (`kind`, `secrets`,
    /// `livemode`, `tolerance_s`, and for a mapped source `verifier`, `message_id`, `headers`,
    /// `type_field`) — secrets also as `{"value": TEXT}`, stored sealed — and for a mapped
    /// source `mapping: {"script", "tests", "file"?}`: compiled, its tests passing, published
    /// and made live with the definition. Without `mapping`, a mapped source keeps its live
    /// version. Live here at once and on other instances at their next look; audited as
    /// `source.configured` (never with a secret). `warnings` says what this instance cannot
    /// read (a variable or file the definition names).
    public func configureSource(name: String, definition body: [String: JSONValue], by actor: String, at now: Date = Date())
        async throws -> (source: InboundSource, created: Bool, warnings: [String]) {
        guard InboundSource.validName(name) else {
            throw Refusal.invalid("name", "must be 1-64 lower-case letters, digits, - or _ (and not messages, sources or failures)")
        }
        let unknown = body.keys.filter { !Self.definitionKeys.contains($0) }.sorted()
        if !unknown.isEmpty {
            throw Refusal.invalid(unknown.map { FieldError($0, "is not part of a source's definition") })
        }
        var entry = body
        let mapping = entry.removeValue(forKey: "mapping") ?? .null
        entry["name"] = .string(name)
        guard let secrets = entry["secrets"]?.arrayValue, (1...2).contains(secrets.count) else {
            throw Refusal.invalid("secrets", "must hold one or two secrets (the new and the old): {\"value\": TEXT}, {\"env\": NAME} or {\"file\": PATH}")
        }
        entry["secrets"] = .array(try secrets.enumerated().map { j, secret in
            try SecretReference.sealing(secret, field: "secrets[\(j)]", name: SecretSealing.sourceSecretName(name), with: sealing)
        })
        // The answers' credential (a Zendesk API token, a callback's signing secret) likewise.
        if var answers = entry["answers"]?.objectValue {
            for key in ["token", "secret"] where answers[key] != nil {
                answers[key] = try SecretReference.sealing(answers[key] ?? .null, field: "answers.\(key)",
                                                           name: SecretSealing.answerSecretName(name), with: sealing)
            }
            entry["answers"] = .object(answers)
        }

        var script: MappingScript?, version: MappingVersion?
        if entry["kind"]?.stringValue == InboundSource.Kind.mapped.rawValue {
            if mapping != .null {
                guard let text = mapping["script"]?.stringValue, !text.isEmpty else {
                    throw Refusal.invalid("mapping.script", "is required: the Lua source")
                }
                let file = mapping["file"]?.stringValue ?? "\(name).lua"
                guard file.hasSuffix(".lua"), (5...100).contains(file.schemaLength), !file.contains("/") else {
                    throw Refusal.invalid("mapping.file", "must be a file name ending in .lua")
                }
                let (compiled, _) = try gate(source: name, file: file, script: text, tests: mapping["tests"], field: "mapping.")
                script = compiled
                version = MappingVersion(source: name, version: compiled.version, file: file, script: text, tests: mapping["tests"],
                                         publishedBy: actor, publishedAt: Timestamp.format(now))
            } else if let live = try await store.activeMappings()[name], let stored = try await store.mappingVersion(source: name, version: live) {
                script = try MappingScript(file: stored.file, source: stored.script, limits: intake.engine.limits)
            } else {
                throw Refusal.invalid("mapping", "a new mapped source is given its script and tests: {\"script\": LUA, \"tests\": {\"cases\": [...]}}")
            }
        } else if mapping != .null {
            throw Refusal.invalid("mapping", "only a mapped source has a mapping script")
        }

        let definition = JSONValue.object(entry)
        let read = SourceCatalog.definition(definition, field: "", environment: ProcessInfo.processInfo.environment, sealing: sealing) { _ in
            script.map { .success($0) } ?? .failure(FieldError("mapping", "is required for a mapped source"))
        }
        let source: InboundSource
        switch read.source {
        case .success(let valid): source = valid
        case .failure(let invalid): throw Refusal.invalid(invalid.errors)
        }
        var data: [String: JSONValue] = ["source": .string(name), "kind": .string(source.kind.rawValue),
                                         "secrets": .array(source.secretOrigin.split(separator: ", ").map { .string(String($0)) })]
        if let version { data["mapping_published"] = .string(version.version) }
        if let script { data["mapping_version"] = .string(script.version) }
        let audit = AuditDraft(actor: actor, kind: "source.configured", subject: name, correlationId: nil, at: Timestamp.format(now),
                               dataJSON: CanonicalJSON.encode(.object(data)))
        let created = try await store.saveSource(StoredSource(name: name, definition: definition, updatedBy: actor, updatedAt: Timestamp.format(now)),
                                                 mapping: version, audit: audit)
        _ = try await reloadSources()
        return (source, created, read.warnings)
    }

    /// Removes a source configured through the API; a `sources.json` source of its name (with
    /// its file's script) takes its place again. Audited as `source.removed`; its messages stay.
    public func removeSource(name: String, by actor: String, at now: Date = Date()) async throws {
        let audit = AuditDraft(actor: actor, kind: "source.removed", subject: name, correlationId: nil, at: Timestamp.format(now),
                               dataJSON: CanonicalJSON.encode(.object(["source": .string(name)])))
        guard try await store.removeSource(name: name, audit: audit) else {
            throw Refusal.notFound("no source named '\(name)' is configured through the API")
        }
        _ = try await reloadSources()
    }

    /// Makes the database's sources and live mapping versions this instance's: at start, after
    /// a change here, and when another instance changed them (the live-configuration
    /// generation moved on). `changed`: the sources that are not as they were; `warnings`: the
    /// stored definitions this instance cannot use or whose secrets it cannot read.
    public func reloadSources() async throws -> (changed: [String], warnings: [String]) {
        let storedList = try await store.storedSources()
        let active = try await store.activeMappings()
        let current = catalog
        var next = fileSources.withLock { $0 }
        var warnings: [String] = []

        /// The live version of a source's script: the one compiled already when it is that one.
        func liveScript(_ name: String) async throws -> MappingScript? {
            guard let live = active[name] else { return nil }
            if let compiled = current[name]?.mapped?.script, compiled.version == live { return compiled }
            if let compiled = next[name]?.mapped?.script, compiled.version == live { return compiled }
            guard let version = try await store.mappingVersion(source: name, version: live) else { return nil }
            return try MappingScript(file: version.file, source: version.script, limits: intake.engine.limits)
        }

        for source in next.sources.values where source.kind == .mapped && !storedList.contains(where: { $0.name == source.name }) {
            if let script = try await liveScript(source.name), var updated = next[source.name] {
                updated.mapped?.script = script
                next.replace(updated)
            }
        }
        for stored in storedList {
            let script = try await liveScript(stored.name)
            let read = SourceCatalog.definition(stored.definition, field: "source \(stored.name)",
                                                environment: ProcessInfo.processInfo.environment, sealing: sealing) { name in
                script.map { .success($0) } ?? .failure(FieldError("mapping", "source \(name) has no live mapping version"))
            }
            warnings += read.warnings
            switch read.source {
            case .success(let source): next.replace(source)
            case .failure(let invalid):
                // Only a definition stored by another version could be refused here.
                warnings.append("source \(stored.name) as stored cannot be used: " + invalid.errors.map(\.description).joined(separator: "; "))
                next.remove(stored.name)
            }
        }
        let changed = Set(current.sources.keys).union(next.sources.keys).filter { Self.fingerprint(current[$0]) != Self.fingerprint(next[$0]) }
        stored.withLock { $0 = Dictionary(uniqueKeysWithValues: storedList.map { ($0.name, $0) }) }
        sources.withLock { $0 = next }
        return (changed.sorted(), warnings)
    }

    /// What tells two configurations of a source apart (compared, never shown: it holds secrets).
    private static func fingerprint(_ source: InboundSource?) -> String? {
        guard let source else { return nil }
        return sha256Hex(Array("\(source.kind)|\(source.secrets)|\(source.livemode)|\(source.tolerance)|\(source.mapped.map { "\($0.verifier)|\($0.messageId)|\($0.headers)|\(String(describing: $0.typeField))|\($0.script.version)" } ?? "")".utf8))
    }
}
