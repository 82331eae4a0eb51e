import ArbiterApp
import ArbiterCore
import ArbiterPolicy
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/inbound`: webhooks as the vendors send them (authenticated by each source's own
/// signature, no API key), and the inbox operators work: messages, dead letters, replays.
struct InboundController {
    let inbox: Inbox

    /// `POST /v1/inbound/{source}`, added outside the API-key group.
    func addReceiver(to router: Router<AppRequestContext>) {
        router.post("/v1/inbound/:source", use: receive)
    }

    /// The routes under `/v1/inbound` that need an API key.
    var endpoints: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .get("messages", use: list)
            .get("messages/:id", use: get)
            .post("messages/:id/replay", use: replay)
            .get("failures", use: failures)
            .get("sources", use: sources)
            .get("sources/:name", use: source)
            .put("sources/:name", use: configure)
            .delete("sources/:name", use: remove)
            .get("sources/:name/mappings", use: mappings)
            .post("sources/:name/mappings", use: publish)
            .post("sources/:name/mappings/:version/dry-run", use: dryRun)
            .post("sources/:name/mappings/:version/activate", use: activate)
    }

    // MARK: Sources and their mapping versions

    /// The configured sources: kind, where their secrets come from (never the secrets), the
    /// live mapping version, and whether `sources.json` or the API configures them.
    func sources(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.operators)
        return JSONResponse(.object(["sources": .array(inbox.catalog.sources.values.sorted { $0.name < $1.name }.map(summary))]))
    }

    func source(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.operators)
        let name = try context.parameters.require("name")
        guard let source = inbox.catalog[name] else { throw Refusal.notFound("no inbound source named '\(name)'") }
        return JSONResponse(summary(source))
    }

    /// Adds or replaces a source (201 when new, 200 when replaced), live on every instance
    /// without a restart; audited. 422 names the field and the rule, or the failing test cases.
    func configure(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.admin)
        let body = try await JSONBody.object(request, context: context)
        let (source, created, warnings) = try await inbox.configureSource(name: try context.parameters.require("name"), definition: body,
                                                                          by: caller.id)
        var json = summary(inbox.catalog[source.name] ?? source).objectValue ?? [:]
        json["warnings"] = .array(warnings.map(JSONValue.string))
        return JSONResponse(.object(json), status: created ? .created : .ok)
    }

    /// Removes a source configured through the API (a `sources.json` source of its name comes
    /// back); its messages stay. 204; 404 when the API configures no such source.
    func remove(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try context.require(.admin)
        try await inbox.removeSource(name: try context.parameters.require("name"), by: caller.id)
        return Response(status: .noContent)
    }

    func summary(_ source: InboundSource) -> JSONValue {
        let stored = inbox.storedSource(source.name)
        return .object([
            "name": .string(source.name), "kind": .string(source.kind.rawValue), "secrets": .int(Int64(source.secrets.count)),
            "secret_origin": .string(source.secretOrigin), "livemode": .bool(source.livemode), "tolerance_s": .int(Int64(source.tolerance)),
            "configured_in": .string(stored == nil ? "sources.json" : "api"),
            "updated_by": stored.map { .string($0.updatedBy) } ?? .null, "updated_at": stored.map { .string($0.updatedAt) } ?? .null,
            "mapping": source.mapped.map { .object(["version": .string($0.script.version), "file": .string($0.script.file),
                                                    "name": .string($0.script.name)]) } ?? .null,
            "answers": source.answers.map { channel in
                let kind: String = if case .zendesk = channel { "zendesk" } else { "callback" }
                return .object(["channel": .string(kind), "url": .string(channel.url), "credential_origin": .string(channel.origin)])
            } ?? .null,
        ])
    }

    func mappings(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.operators)
        let versions = try await inbox.mappingVersions(source: try context.parameters.require("name"))
        return JSONResponse(.object(["versions": .array(versions.map { Self.json($0, withScript: false) })]))
    }

    /// `{"script": LUA, "tests": {"cases": [...]}, "file"?}`: compiled and tested, then stored
    /// (not live until activated). 201; 422 naming the line or the failing cases.
    func publish(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.admin)
        let body = try await JSONBody.object(request, context: context)
        guard let script = body["script"]?.stringValue, !script.isEmpty else { throw Refusal.invalid("script", "is required: the Lua source") }
        let file = body["file"]?.stringValue
        if let file, !(file.hasSuffix(".lua") && (5...100).contains(file.schemaLength) && !file.contains("/")) {
            throw Refusal.invalid("file", "must be a file name ending in .lua")
        }
        let (version, cases) = try await inbox.publishMapping(source: try context.parameters.require("name"), script: script,
                                                              tests: body["tests"], file: file, by: caller.id)
        var json = Self.json(version, withScript: false).objectValue ?? [:]
        json["tests_passed"] = .int(Int64(cases))
        return JSONResponse(.object(json), status: .created)
    }

    /// `{"limit"?: 1-1000 (200)}`: what the version makes of the latest stored messages, next to
    /// the live version. Writes nothing.
    func dryRun(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(.admin)
        let body = try await JSONBody.object(request, context: context, allowEmpty: true)
        var limit = 200
        if let given = body["limit"] {
            guard let n = given.intValue, (1...1000).contains(n) else { throw Refusal.invalid("limit", "must be 1-1000") }
            limit = Int(n)
        }
        let report = try await inbox.dryRun(source: try context.parameters.require("name"), version: try context.parameters.require("version"),
                                            limit: limit)
        return JSONResponse(.object([
            "source": .string(report.source), "version": .string(report.version), "live_version": .string(report.liveVersion),
            "messages": .int(Int64(report.messages)), "mapped": .int(Int64(report.mapped)), "ignored": .int(Int64(report.ignored)),
            "failed": .int(Int64(report.failed)), "changed": .int(Int64(report.changed)),
            "changes": .array(report.changes.map { .object(["message_id": .string($0.messageId), "before": .string($0.before),
                                                            "after": .string($0.after)]) }),
        ]))
    }

    /// Makes a published version live on every instance; audited.
    func activate(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.admin)
        let version = try await inbox.activateMapping(source: try context.parameters.require("name"),
                                                      version: try context.parameters.require("version"), by: caller.id)
        return JSONResponse(Self.json(version, withScript: false))
    }

    static func json(_ version: MappingVersion, withScript: Bool) -> JSONValue {
        var fields: [String: JSONValue] = ["source": .string(version.source), "version": .string(version.version), "file": .string(version.file),
                                           "published_by": .string(version.publishedBy), "published_at": .string(version.publishedAt),
                                           "live": .bool(version.active)]
        if withScript { fields["script"] = .string(version.script) }
        return .object(fields)
    }

    static let operators: [Role] = [.operator, .auditor]

    /// Verifies, stores, maps and decides; 200 with the message once it is stored and its
    /// events decided. A vendor's retry of a processed message gets the same answer with
    /// `Idempotent-Replayed: true`. A mapping error or an unknown customer is still a 200 (the
    /// message is kept as a dead letter): the vendor has nothing to retry.
    func receive(_ request: Request, context: AppRequestContext) async throws -> Response {
        let name = try context.parameters.require("source")
        let body = try await JSONBody.bytes(request, limit: JSONBody.limit)
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let answer: Inbox.Answer
        do {
            answer = try await inbox.receive(source: name, headers: headers, body: Array(body.readableBytesView))
        } catch let rejection as InboundRejection {
            throw Problem(status: rejection.status == .unauthorized ? .unauthorized : .badRequest,
                          title: "Webhook not verified", detail: rejection.reason)
        } catch let unavailable as SourceUnavailable {
            throw Problem(status: .serviceUnavailable, title: "Source not configured",
                          detail: "source \(unavailable.source) has no signing secret (\(unavailable.origin)); the request was not stored")
        } catch is ShuttingDown {
            throw Problem(status: .serviceUnavailable, title: "Shutting down", detail: "the service is stopping; send the webhook again")
        }
        var fields: HTTPFields = [.contentType: "application/json"]
        if answer.replayed { fields[.idempotentReplayed] = "true" }
        return Response(status: .ok, headers: fields,
                        body: .init(byteBuffer: ByteBuffer(bytes: CanonicalJSON.encode(Self.json(answer.message, withBody: false)))))
    }

    func list(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.operators)
        let query = request.uri.queryParameters
        var errors: [FieldError] = []
        var filter = InboundFilter()
        if let source = query["source"] { filter.source = String(source) }
        if let status = query["status"] {
            if let value = InboundMessage.Status(rawValue: String(status)) { filter.status = value } else {
                errors.append(FieldError("status", "must be one of \(InboundMessage.Status.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
        }
        if let limit = query["limit"] {
            if let n = Int(limit), (1...500).contains(n) { filter.limit = n } else { errors.append(FieldError("limit", "must be 1-500")) }
        }
        if let cursor = query["cursor"] { filter.before = String(cursor) }
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        let page = try await inbox.messages(filter)
        return JSONResponse(.object(["messages": .array(page.items.map { Self.json($0, withBody: false) }),
                                     "next_cursor": page.next.map(JSONValue.string) ?? .null]))
    }

    func get(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.operators)
        return JSONResponse(Self.json(try await inbox.message(id: try context.parameters.require("id")), withBody: true))
    }

    /// Processes a failed or unmatched message again (after the mapping was fixed or the
    /// account synced); audited.
    func replay(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        let caller = try context.require(.operator)
        return JSONResponse(Self.json(try await inbox.replay(id: try context.parameters.require("id"), by: caller.id), withBody: false))
    }

    /// The latest requests refused by verification on this instance (a wrong secret, a clock).
    func failures(_ request: Request, context: AppRequestContext) async throws -> JSONResponse {
        _ = try context.require(Self.operators)
        return JSONResponse(.object(["failures": .array(inbox.failures.all.reversed().map { failure in
            .object(["source": .string(failure.source), "reason": .string(failure.reason), "at": .string(Timestamp.format(failure.at))])
        })]))
    }

    static func json(_ message: InboundMessage, withBody: Bool) -> JSONValue {
        var fields: [String: JSONValue] = [
            "id": .string(message.id), "source": .string(message.source), "external_id": .string(message.externalId),
            "vendor_type": message.vendorType.map(JSONValue.string) ?? .null, "received_at": .string(message.receivedAt),
            "updated_at": .string(message.updatedAt), "status": .string(message.outcome.status.rawValue),
            "detail": message.outcome.detail.map(JSONValue.string) ?? .null,
            "account_id": message.outcome.accountId.map(JSONValue.string) ?? .null,
            "events": .array(message.outcome.events), "attempts": .int(message.attempts),
        ]
        if withBody {
            fields["headers"] = .object(message.headers.mapValues(JSONValue.string))
            fields["body"] = .string(message.body)
        }
        return .object(fields)
    }
}
