import ArbiterApp
import ArbiterCore
import ArbiterServer
import ArbiterSQLite
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// A valid envelope of each catalog type, on `account`.
func validEnvelope(_ type: String, id: String = UUID().uuidString, account: String = "acct_1",
                   payload extra: [String: JSONValue] = [:]) -> [String: JSONValue] {
    var payload: [String: JSONValue]
    switch type {
    case "credit.requested": payload = ["amount_minor": 2500, "currency": "USD", "reason": "outage on 2026-11-20", "severity": "sev2"]
    case "refund.requested": payload = ["amount_minor": 1900, "currency": "USD", "payment_id": "pay_1", "reason": "double charge"]
    case "invoice.disputed": payload = ["invoice_id": "inv_1", "amount_minor": 4900, "currency": "USD", "reason": "seats not used"]
    case "entitlement.requested": payload = ["feature": "sso", "reason": "security review"]
    case "payment.failed": payload = ["invoice_id": "inv_2", "amount_minor": 4900, "currency": "USD", "attempt": 1, "failure_code": "card_declined"]
    case "payment.succeeded": payload = ["invoice_id": "inv_2", "amount_minor": 4900, "currency": "USD"]
    case "payment.refunded": payload = ["payment_id": "ch_1", "amount_minor": 1500, "currency": "USD", "refunded_total_minor": 1500]
    case "subscription.changed": payload = ["subscription_id": "sub_1", "change": "upgrade", "tier": "premium", "mrr_minor": 99000, "currency": "USD"]
    case "case.escalated": payload = ["case_id": "case_9", "severity": "sev1"]
    default: payload = [:]
    }
    payload.merge(extra) { _, new in new }
    return ["id": .string(id), "type": .string(type), "source": "zendesk", "occurred_at": "2026-11-22T10:00:00Z",
            "account_id": .string(account), "correlation_id": "case-42", "payload": .object(payload)]
}

/// A server on an in-memory database with the shipped policies (or `policies`), an admin,
/// a submitter and a reviewer key.
struct EventsHarness {
    static let admin = "admin-secret-for-tests-0123456789"
    /// Where the service stores: SQLite or PostgreSQL (``TestDatabase``).
    let database: TestDatabase
    let submitter: String
    let reviewer: String
    /// The CRM/billing sync's key (role `sync`): it keeps account snapshots.
    let sync: String

    static func run(policies: String? = repositoryRoot.appendingPathComponent("Policies").path, guardrails: Guardrails = Guardrails(),
                    reviews: ReviewSettings = ReviewSettings(), escalationInterval: Duration = .seconds(1),
                    erp: ERPTarget = .none, delivery: DeliverySettings = DeliverySettings(), requirePolicyApproval: Bool = false,
                    backtestInlineEvents: Int = 20_000, exportMaskPaths: [[String]] = [], exportInlineWait: Duration = .seconds(5),
                    limits: PolicyLimits = PolicyLimits(), breakerThreshold: Int = 5, publicURL: String? = nil,
                    consoleSessions: ConsoleSessionLimits = ConsoleSessionLimits(), gaugesInterval: Duration = .milliseconds(50),
                    targets: [DeliveryTarget] = [], reconciliation: ReconciliationSettings = ReconciliationSettings(),
                    _ body: @Sendable (any TestClientProtocol, EventsHarness) async throws -> Void) async throws {
        let database = try await TestDatabase.make()
        defer { database.close() }
        var configuration = database.configure(ServerConfiguration(dataDirectory: scratchDirectory(), policiesDirectory: policies,
                                                                 limits: limits, breakerThreshold: breakerThreshold,
                                                                 guardrails: guardrails, adminKey: admin, reviews: reviews,
                                                                 escalationInterval: escalationInterval, erp: erp, delivery: delivery,
                                                                 requirePolicyApproval: requirePolicyApproval,
                                                                 backtestInlineEvents: backtestInlineEvents,
                                                                 exportMaskPaths: exportMaskPaths, exportInlineWait: exportInlineWait,
                                                                 publicURL: publicURL, consoleSessions: consoleSessions,
                                                                 gaugesInterval: gaugesInterval))
        configuration.targets = targets
        configuration.reconciliation = reconciliation
        let app = try await buildApplication(configuration, database: database.appDatabase)
        let keys = Keys(store: database.keys)
        let submitter = try await keys.create(name: "zendesk", role: .submitter, by: "test").secret
        let reviewer = try await keys.create(name: "ana", role: .reviewer, by: "test").secret
        let sync = try await keys.create(name: "billing sync", role: .sync, by: "test").secret
        let harness = EventsHarness(database: database, submitter: submitter, reviewer: reviewer, sync: sync)
        try await app.test(.router) { client in try await body(client, harness) }
    }

    func headers(_ secret: String? = nil) -> HTTPFields {
        [.authorization: "Bearer \(secret ?? submitter)", .contentType: "application/json"]
    }

    /// Syncs an account as billing would.
    func syncAccount(_ client: some TestClientProtocol, _ id: String, _ fields: JSONValue) async throws {
        try await client.execute(uri: "/v1/accounts/\(id)", method: .put, headers: headers(sync),
                                 body: ByteBuffer(bytes: CanonicalJSON.encode(fields))) { response in
            #expect(response.status == .ok)
        }
    }

    /// Posts an event; returns the status, the parsed body and the replay header.
    @discardableResult
    func post(_ client: some TestClientProtocol, _ envelope: [String: JSONValue], key: String? = nil) async throws -> (HTTPResponse.Status, JSONValue, String?) {
        try await post(client, raw: ByteBuffer(bytes: CanonicalJSON.encode(.object(envelope))), key: key)
    }

    func post(_ client: some TestClientProtocol, raw: ByteBuffer, key: String? = nil,
              contentType: String = "application/json") async throws -> (HTTPResponse.Status, JSONValue, String?) {
        var headers = headers(key)
        headers[.contentType] = contentType
        return try await client.execute(uri: "/v1/events", method: .post, headers: headers, body: raw) { response in
            let body = (try? JSONValue.parse(Data(String(buffer: response.body).utf8))) ?? .null
            return (response.status, body, response.headers[HTTPField.Name("Idempotent-Replayed")!])
        }
    }

    func get(_ client: some TestClientProtocol, _ uri: String, key: String? = nil) async throws -> (HTTPResponse.Status, JSONValue) {
        try await client.execute(uri: uri, method: .get, headers: headers(key)) { response in
            (response.status, (try? JSONValue.parse(Data(String(buffer: response.body).utf8))) ?? .null)
        }
    }

    func count(_ sql: String, _ arguments: [String] = []) async throws -> Int {
        try await database.count(sql, arguments)
    }
}

@Suite(.timeLimit(.minutes(5))) struct EventsTests {
    @Test func everyEventTypeIsDecidedStoredAndReadable() async throws {
        try await EventsHarness.run { client, h in
            try await h.syncAccount(client, "acct_1", ["status": "active", "tier": "standard", "currency": "USD", "mrr_minor": 49900,
                                                       "entitlements": ["api"]])
            for type in EventType.allCases {
                let (status, body, replayed) = try await h.post(client, validEnvelope(type.rawValue))
                #expect(status == .created, "\(type): \(body)")
                #expect(replayed == nil)
                let decision = try #require(body["decision"])
                let outcome = try #require(decision["outcome"]?.stringValue)
                #expect(["approve", "review", "reject", "recorded"].contains(outcome), "\(type)")
                // Request types have a shipped policy each; so do payment signals. The others are recorded.
                if type == .subscriptionChanged || type == .caseEscalated || type == .paymentRefunded {
                    #expect(outcome == "recorded", "\(type): \(decision)")
                    #expect(decision["policies"] == .array([]))
                } else {
                    let policies = try #require(decision["policies"]?.arrayValue)
                    #expect(policies.count == 1, "\(type)")
                    #expect(policies.first?["version"]?.stringValue?.count == 64)
                    #expect(policies.first?["reasons"]?.arrayValue?.isEmpty == false)
                }
                let eventId = try #require(body["event_id"]?.stringValue)
                let decisionId = try #require(decision["id"]?.stringValue)
                let (eventStatus, event) = try await h.get(client, "/v1/events/\(eventId)")
                #expect(eventStatus == .ok)
                #expect(event["type"] == .string(type.rawValue))
                #expect(event["decision_id"] == .string(decisionId))
                #expect(event["submitted_by"]?.stringValue?.isEmpty == false)
                let (decisionStatus, stored) = try await h.get(client, "/v1/decisions/\(decisionId)", key: h.reviewer)
                #expect(decisionStatus == .ok)
                #expect(stored["outcome"] == decision["outcome"])
                #expect(stored["reasons"] == decision["reasons"])
                #expect(stored["context"]?["account"]?["id"] == "acct_1")
            }
            // One event row, one decision and two audit entries (received, decided) per event.
            #expect(try await h.count("SELECT COUNT(*) FROM events") == EventType.allCases.count)
            #expect(try await h.count("SELECT COUNT(*) FROM decisions") == EventType.allCases.count)
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'event.received'") == EventType.allCases.count)
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'decision.made'") == EventType.allCases.count)
            #expect(try await h.database.verifyAudit() == .intact(count: Int64(try await h.count("SELECT COUNT(*) FROM audit_log")),
                                                                   lastHash: try #require(try await h.database.string("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1"))))
        }
    }

    @Test func approvedCreditGoesToTheOutboxAndReviewCreatesAnItem() async throws {
        try await EventsHarness.run { client, h in
            try await h.syncAccount(client, "acct_1", ["status": "active", "tier": "standard", "currency": "USD"])
            let (_, approved, _) = try await h.post(client, validEnvelope("credit.requested"))
            #expect(approved["decision"]?["outcome"] == "approve")
            let action = try #require(approved["decision"]?["actions"]?.arrayValue?.first)
            #expect(action["type"] == "credit_memo")
            #expect(action["amount_minor"] == 2500)
            #expect(action["currency"] == "USD")
            let actionId = try #require(action["id"]?.stringValue)
            #expect(try await h.count("SELECT COUNT(*) FROM outbox_actions WHERE id = '\(actionId)' AND status = 'pending'") == 1)

            let (_, reviewed, _) = try await h.post(client, validEnvelope("credit.requested", payload: ["amount_minor": 150_000]))
            let decision = try #require(reviewed["decision"])
            #expect(decision["outcome"] == "review")
            #expect(decision["queue"] == "credits")
            #expect(decision["approvals_required"] == 2)
            #expect(decision["sla_due_at"]?.stringValue != nil)
            let reviewId = try #require(decision["review_id"]?.stringValue)
            #expect(try await h.count("SELECT COUNT(*) FROM review_items WHERE id = '\(reviewId)' AND state = 'open' AND queue = 'credits' AND approvals_required = 2") == 1)
            // Proposed actions wait for a reviewer: nothing more in the outbox.
            #expect(try await h.count("SELECT COUNT(*) FROM outbox_actions") == 1)
        }
    }

    @Test func invalidEventsNameTheFieldAndStoreNothing() async throws {
        try await EventsHarness.run { client, h in
            let overflow = ByteBuffer(string: String(decoding: CanonicalJSON.encode(.object(validEnvelope("credit.requested"))), as: UTF8.self)
                .replacingOccurrences(of: "\"amount_minor\":2500", with: "\"amount_minor\":100000000000000000000000"))
            var cases: [(String, [String: JSONValue], String)] = []
            func mutate(_ type: String, _ field: String, _ value: JSONValue?, expect: String) {
                var envelope = validEnvelope(type)
                if field.hasPrefix("payload.") {
                    var payload = envelope["payload"]!.objectValue!
                    payload[String(field.dropFirst("payload.".count))] = value
                    envelope["payload"] = .object(payload)
                } else {
                    envelope[field] = value
                }
                cases.append(("\(type) \(field)=\(value.map { CanonicalJSON.string($0) } ?? "missing")", envelope, expect))
            }
            for type in EventType.allCases.map(\.rawValue) {
                for field in ["id", "source", "occurred_at", "account_id", "correlation_id", "payload"] {
                    mutate(type, field, nil, expect: field)
                }
                mutate(type, "occurred_at", "yesterday", expect: "occurred_at")
                mutate(type, "account_id", 42, expect: "account_id")
                mutate(type, "payload", "text", expect: "payload")
            }
            for type in ["credit.requested", "refund.requested", "invoice.disputed", "payment.failed", "payment.succeeded"] {
                mutate(type, "payload.amount_minor", nil, expect: "payload.amount_minor")
                mutate(type, "payload.amount_minor", 0, expect: "payload.amount_minor")
                mutate(type, "payload.amount_minor", -5, expect: "payload.amount_minor")
                mutate(type, "payload.amount_minor", 12.5, expect: "payload.amount_minor")
                mutate(type, "payload.amount_minor", "2500", expect: "payload.amount_minor")
                mutate(type, "payload.amount_minor", 1_000_000_000_000_000, expect: "payload.amount_minor")
                mutate(type, "payload.currency", "XYZ", expect: "payload.currency")
                mutate(type, "payload.currency", "usd", expect: "payload.currency")
                mutate(type, "payload.currency", nil, expect: "payload.currency")
            }
            mutate("credit.requested", "payload.reason", nil, expect: "payload.reason")
            mutate("credit.requested", "payload.severity", "sev9", expect: "payload.severity")
            mutate("refund.requested", "payload.payment_id", nil, expect: "payload.payment_id")
            mutate("invoice.disputed", "payload.invoice_id", 7, expect: "payload.invoice_id")
            mutate("entitlement.requested", "payload.feature", nil, expect: "payload.feature")
            mutate("payment.failed", "payload.attempt", 0, expect: "payload.attempt")
            mutate("payment.failed", "payload.failure_code", nil, expect: "payload.failure_code")
            mutate("subscription.changed", "payload.change", "pause", expect: "payload.change")
            mutate("subscription.changed", "payload.mrr_minor", -1, expect: "payload.mrr_minor")
            mutate("subscription.changed", "payload.currency", "EURO", expect: "payload.currency")
            mutate("case.escalated", "payload.severity", nil, expect: "payload.severity")
            mutate("credit.requested", "type", "credit.granted", expect: "type")
            mutate("credit.requested", "type", nil, expect: "type")
            mutate("credit.requested", "submitted_by", "someone-else", expect: "submitted_by")

            for (name, envelope, field) in cases {
                let (status, body, _) = try await h.post(client, envelope)
                #expect(status == .unprocessableContent, "\(name): \(status)")
                let fields = body["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? []
                #expect(fields.contains(field), "\(name): \(body)")
                #expect(body["type"]?.stringValue != nil && body["title"]?.stringValue != nil && body["detail"]?.stringValue != nil)
            }
            let (overflowStatus, overflowBody, _) = try await h.post(client, raw: overflow)
            #expect(overflowStatus == .unprocessableContent)
            #expect(overflowBody["errors"]?.arrayValue?.first?["field"] == "payload.amount_minor")

            let (notJSON, _, _) = try await h.post(client, raw: ByteBuffer(string: "amount=5"))
            #expect(notJSON == .badRequest)
            let (form, _, _) = try await h.post(client, raw: ByteBuffer(string: "amount=5"), contentType: "application/x-www-form-urlencoded")
            #expect(form == .unsupportedMediaType)
            let (array, _, _) = try await h.post(client, raw: ByteBuffer(string: "[1,2]"))
            #expect(array == .unprocessableContent)
            let huge = ByteBuffer(string: #"{"id":"x","pad":""# + String(repeating: "a", count: (1 << 20) + 10) + #""}"#)
            let (tooLarge, _, _) = try await h.post(client, raw: huge)
            #expect(tooLarge == .contentTooLarge)

            #expect(try await h.count("SELECT COUNT(*) FROM events") == 0)
            #expect(try await h.count("SELECT COUNT(*) FROM decisions") == 0)
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind IN ('event.received', 'decision.made')") == 0)
        }
    }

    @Test func resubmissionReplaysTheOriginalAndADifferentBodyIsAConflict() async throws {
        try await EventsHarness.run { client, h in
            let envelope = validEnvelope("credit.requested", id: "zd-1001")
            let (first, original, firstReplay) = try await h.post(client, envelope)
            #expect(first == .created)
            #expect(firstReplay == nil)
            // The same body with its keys in another order and other spacing is the same body.
            let reordered = ByteBuffer(string: "{ " + envelope.sorted { $0.key > $1.key }
                .map { "\"\($0.key)\" : \(CanonicalJSON.string($0.value))" }.joined(separator: " , ") + " }")
            let (again, replayed, header) = try await h.post(client, raw: reordered)
            #expect(again == .created)
            #expect(header == "true")
            #expect(replayed == original)

            var changed = envelope
            changed["payload"] = validEnvelope("credit.requested", payload: ["amount_minor": 2600])["payload"]
            let (conflict, problem, _) = try await h.post(client, changed)
            #expect(conflict == .conflict)
            #expect(problem["detail"]?.stringValue?.contains("zd-1001") == true)

            // Another source may use the same id.
            var other = envelope
            other["source"] = "chargebee"
            let (otherStatus, otherBody, _) = try await h.post(client, other)
            #expect(otherStatus == .created)
            #expect(otherBody["event_id"] != original["event_id"])
            #expect(try await h.count("SELECT COUNT(*) FROM events") == 2)
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'decision.made'") == 2)
        }
    }

    /// Resubmissions arriving in the same group commits as new events (on PostgreSQL a commit
    /// inserts its events in one statement: a duplicate among them must still be found and
    /// answered with the original, and cost the new events nothing).
    @Test func resubmissionsMixedWithNewEventsInOneCommit() async throws {
        try await EventsHarness.run { client, h in
            var originals: [String: JSONValue] = [:]
            for i in 0..<8 {
                let (status, body, _) = try await h.post(client, validEnvelope("credit.requested", id: "old-\(i)", account: "acct_old_\(i)"))
                #expect(status == .created)
                originals["old-\(i)"] = body
            }
            enum Sent: Sendable { case new(Int), again(Int), clash(Int) }
            let sends: [Sent] = (0..<32).map { .new($0) } + (0..<8).map { .again($0) } + (0..<4).map { .clash($0) }
            let results = try await withThrowingTaskGroup(of: (Sent, HTTPResponse.Status, JSONValue, String?).self) { group in
                for sent in sends.shuffled() {
                    group.addTask {
                        let envelope = switch sent {
                        case .new(let i): validEnvelope("credit.requested", id: "new-\(i)", account: "acct_new_\(i)")
                        case .again(let i): validEnvelope("credit.requested", id: "old-\(i)", account: "acct_old_\(i)")
                        // The same source and id as an earlier event, for another account: not the same body.
                        case .clash(let i): validEnvelope("credit.requested", id: "old-\(i)", account: "acct_clash_\(i)")
                        }
                        let (status, body, replayed) = try await h.post(client, envelope)
                        return (sent, status, body, replayed)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for (sent, status, body, replayed) in results {
                switch sent {
                case .new:
                    #expect(status == .created && replayed == nil, "\(body)")
                case .again(let i):
                    #expect(status == .created && replayed == "true")
                    #expect(body == originals["old-\(i)"])
                case .clash:
                    #expect(status == .conflict, "\(body)")
                }
            }
            #expect(try await h.count("SELECT COUNT(*) FROM events") == 40)
            #expect(try await h.count("SELECT COUNT(*) FROM decisions") == 40)
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'decision.made'") == 40)
        }
    }

    @Test func concurrentResubmissionsDecideOnce() async throws {
        try await EventsHarness.run { client, h in
            let envelope = validEnvelope("credit.requested", id: "zd-race")
            let results = try await withThrowingTaskGroup(of: (HTTPResponse.Status, JSONValue, String?).self) { group in
                for _ in 0..<20 { group.addTask { try await h.post(client, envelope) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.allSatisfy { $0.0 == .created })
            #expect(results.filter { $0.2 == nil }.count == 1)
            #expect(Set(results.map { $0.1 }).count == 1)
            #expect(try await h.count("SELECT COUNT(*) FROM events") == 1)
        }
    }

    @Test func routesCheckKeysAndRoles() async throws {
        try await EventsHarness.run { client, h in
            let envelope = ByteBuffer(bytes: CanonicalJSON.encode(.object(validEnvelope("credit.requested"))))
            try await client.execute(uri: "/v1/events", method: .post, headers: [.contentType: "application/json"], body: envelope) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.contentType] == "application/problem+json")
            }
            let (unknown, _, _) = try await h.post(client, raw: envelope, key: "not-a-key")
            #expect(unknown == .unauthorized)
            let (reviewer, problem, _) = try await h.post(client, raw: envelope, key: h.reviewer)
            #expect(reviewer == .forbidden)
            #expect(problem["detail"]?.stringValue?.contains("submitter") == true)
            let (admin, _, _) = try await h.post(client, raw: envelope, key: EventsHarness.admin)
            #expect(admin == .created)
            let (listed, page) = try await h.get(client, "/v1/decisions", key: h.reviewer)
            #expect(listed == .ok)
            #expect(page["items"]?.arrayValue?.count == 1)
            let (missing, _) = try await h.get(client, "/v1/decisions/nope")
            #expect(missing == .notFound)
            let (missingEvent, _) = try await h.get(client, "/v1/events/nope")
            #expect(missingEvent == .notFound)
        }
    }

    /// 50 concurrent 30.00 credits on a standard account (auto-approval up to 50.00, 90-day cap
    /// 100.00): exactly three fit under the cap, whatever the interleaving.
    @Test func concurrentCreditsNeverExceedTheNinetyDayCap() async throws {
        try await EventsHarness.run { client, h in
            try await h.syncAccount(client, "acct_cap", ["status": "active", "tier": "standard", "currency": "USD"])
            let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
                for i in 0..<50 {
                    group.addTask {
                        let (status, body, _) = try await h.post(client, validEnvelope("credit.requested", id: "cap-\(i)", account: "acct_cap",
                                                                                       payload: ["amount_minor": 3000]))
                        #expect(status == .created)
                        return body["decision"]?["outcome"]?.stringValue ?? "?"
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 == "approve" }.count == 3, "\(outcomes)")
            #expect(outcomes.filter { $0 == "review" }.count == 47)
            let (_, account) = try await h.get(client, "/v1/accounts/acct_cap")
            #expect(account["history"]?["credits_90d_minor"] == 9000)
        }
    }

    @Test func aFailingPolicyRoutesToPolicyErrorsAndNeverApproves() async throws {
        let dir = try temporaryDirectory()
        try """
            return { name = "broken", on = { "credit.requested" }, decide = function(event, ctx)
              if event.payload.amount_minor > 1000 then error("threshold table missing") end
              if event.payload.amount_minor > 500 then while true do end end
              if event.payload.amount_minor > 100 then return { outcome = "approve", actions = { { type = "credit_memo", amount_minor = -5, currency = "USD" } } } end
              return approve{ reasons = { "small" } }
            end }
            """.write(to: dir.appendingPathComponent("broken.lua"), atomically: true, encoding: .utf8)
        try await EventsHarness.run(policies: dir.path) { client, h in
            // The endless loop is stopped by the instruction budget, or by the time limit first when
            // the machine is busy (a debug build under a parallel test run): either is an error.
            for (amount, messages) in [(2000, ["threshold table missing"]), (700, ["instruction", "time limit"]),
                                       (200, ["amount_minor"])] as [(Int64, [String])] {
                let (status, body, _) = try await h.post(client, validEnvelope("credit.requested", payload: ["amount_minor": .int(amount)]))
                #expect(status == .created)
                let decision = try #require(body["decision"])
                #expect(decision["outcome"] == "review", "\(amount): \(decision)")
                #expect(decision["queue"] == "policy-errors")
                #expect(decision["actions"] == .array([]))
                let error = decision["policies"]?.arrayValue?.first?["error"]?.stringValue ?? ""
                #expect(messages.contains { error.contains($0) }, "\(amount): \(error)")
                let reason = decision["reasons"]?.arrayValue?.first?.stringValue ?? ""
                #expect(messages.contains { reason.contains($0) }, "\(amount): \(reason)")
            }
            #expect(try await h.count("SELECT COUNT(*) FROM outbox_actions") == 0)
            let (_, small, _) = try await h.post(client, validEnvelope("credit.requested", payload: ["amount_minor": 50]))
            #expect(small["decision"]?["outcome"] == "approve")
        }
    }

    @Test func aCreditOverItsCeilingGoesToTheGuardrailQueue() async throws {
        try await EventsHarness.run(guardrails: Guardrails(ceilings: [.creditMemo: ["USD": 2000], .refund: ["USD": 2000]])) { client, h in
            try await h.syncAccount(client, "acct_1", ["status": "active", "tier": "standard", "currency": "USD"])
            let (_, body, _) = try await h.post(client, validEnvelope("credit.requested", payload: ["amount_minor": 2500]))
            let decision = try #require(body["decision"])
            #expect(decision["outcome"] == "review")
            #expect(decision["queue"] == "guardrail")
            #expect(decision["reasons"]?.arrayValue?.first?.stringValue?.contains("exceeds the ceiling of 20.00 USD") == true)
            #expect(decision["policies"]?.arrayValue?.first?["outcome"] == "approve")
            #expect(try await h.count("SELECT COUNT(*) FROM outbox_actions") == 0)
            let (_, small, _) = try await h.post(client, validEnvelope("credit.requested", payload: ["amount_minor": 1500]))
            #expect(small["decision"]?["outcome"] == "approve")
        }
    }

    /// A ceiling caps the sum a decision moves per type and currency, not each action; money in
    /// a currency without a ceiling never auto-approves.
    @Test func ceilingsCapWhatOneDecisionMovesPerCurrency() async throws {
        let directory = try temporaryDirectory()
        try """
            return { name = "split", on = { "credit.requested" }, decide = function(event, ctx)
              local p, memos = event.payload, {}
              for i = 1, 3 do memos[i] = credit_memo{ amount_minor = p.amount_minor // 3, currency = p.currency } end
              return approve{ reasons = { "split in three" }, actions = memos }
            end }
            """.write(to: directory.appendingPathComponent("split.lua"), atomically: true, encoding: .utf8)
        try await EventsHarness.run(policies: directory.path) { client, h in
            try await h.syncAccount(client, "acct_usd", ["status": "active", "tier": "standard", "currency": "USD"])
            try await h.syncAccount(client, "acct_jpy", ["status": "active", "tier": "standard", "currency": "JPY"])
            // Three memos of 9,000.00 USD: each under the 10,000.00 USD ceiling, together over it.
            let (_, split, _) = try await h.post(client, validEnvelope("credit.requested", account: "acct_usd", payload: ["amount_minor": 2_700_000]))
            #expect(split["decision"]?["outcome"] == "review")
            #expect(split["decision"]?["queue"] == "guardrail")
            #expect(split["decision"]?["reasons"]?.arrayValue?.first == "credit_memo of 27000.00 USD in this decision exceeds the ceiling of 10000.00 USD", "\(split)")
            let (_, within, _) = try await h.post(client, validEnvelope("credit.requested", account: "acct_usd", payload: ["amount_minor": 900_000]))
            #expect(within["decision"]?["outcome"] == "approve")
            // No ceiling for JPY: never without a reviewer, however small.
            let (_, yen, _) = try await h.post(client, validEnvelope("credit.requested", account: "acct_jpy",
                                                                     payload: ["amount_minor": 300, "currency": "JPY"]))
            #expect(yen["decision"]?["queue"] == "guardrail")
            #expect(yen["decision"]?["reasons"]?.arrayValue?.first?.stringValue?.contains("no ceiling is configured for credit_memo in JPY") == true, "\(yen)")
        }
        // A ceiling for JPY, set as `serve --ceiling` does.
        var guardrails = Guardrails()
        try guardrails.set("credit_memo=JPY:100000")
        try await EventsHarness.run(policies: directory.path, guardrails: guardrails) { client, h in
            try await h.syncAccount(client, "acct_jpy", ["status": "active", "tier": "standard", "currency": "JPY"])
            let (_, yen, _) = try await h.post(client, validEnvelope("credit.requested", account: "acct_jpy",
                                                                     payload: ["amount_minor": 300, "currency": "JPY"]))
            #expect(yen["decision"]?["outcome"] == "approve", "\(yen)")
        }
        for (flag, message) in [("credit_memo=500000", "expected TYPE=CURRENCY:MINOR"), ("account_suspension=USD:5", "credit_memo or refund"),
                                ("refund=XXX:5", "XXX is not an ISO 4217 currency code"), ("refund=USD:-5", "positive integer")] {
            var guardrails = Guardrails()
            #expect(throws: Refusal.self) { try guardrails.set(flag) }
            do { try guardrails.set(flag) } catch { #expect("\(error)".contains(message), "\(flag): \(error)") }
        }
    }

    @Test func withoutPoliciesRequestsGoToDefaultReviewAndSignalsAreRecorded() async throws {
        try await EventsHarness.run(policies: nil) { client, h in
            let (_, request, _) = try await h.post(client, validEnvelope("refund.requested"))
            #expect(request["decision"]?["outcome"] == "review")
            #expect(request["decision"]?["queue"] == "default-review")
            let (_, signal, _) = try await h.post(client, validEnvelope("case.escalated"))
            #expect(signal["decision"]?["outcome"] == "recorded")
            #expect(signal["decision"]?["review_id"] == .null)
        }
    }

    @Test func signalsKeepTheAccountSnapshotCurrent() async throws {
        try await EventsHarness.run(policies: nil) { client, h in
            func account() async throws -> JSONValue { try await h.get(client, "/v1/accounts/acct_s").1["account"] ?? .null }
            try await h.post(client, validEnvelope("payment.failed", account: "acct_s"))
            #expect(try await account()["status"] == "unknown")   // a payment alone does not create an account
            try await h.post(client, validEnvelope("subscription.changed", account: "acct_s"))
            #expect(try await account()["status"] == "active")
            #expect(try await account()["tier"] == "premium")
            #expect(try await account()["mrr_minor"] == 99000)
            try await h.post(client, validEnvelope("payment.failed", account: "acct_s"))
            #expect(try await account()["status"] == "past_due")
            try await h.post(client, validEnvelope("payment.succeeded", account: "acct_s"))
            #expect(try await account()["status"] == "active")
            try await h.post(client, validEnvelope("subscription.changed", account: "acct_s", payload: ["change": "cancel"]))
            #expect(try await account()["status"] == "closed")
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'account.updated' AND subject = 'acct_s'") == 4)
            let (_, history) = try await h.get(client, "/v1/accounts/acct_s")
            #expect(history["history"]?["failed_payments_30d"] == 2)
        }
    }

    @Test func decisionsAreListedByFilterInPages() async throws {
        try await EventsHarness.run { client, h in
            try await h.syncAccount(client, "acct_1", ["status": "active", "tier": "standard", "currency": "USD"])
            for i in 0..<5 { try await h.post(client, validEnvelope("credit.requested", id: "a\(i)", payload: ["amount_minor": 100])) }
            for i in 0..<3 { try await h.post(client, validEnvelope("credit.requested", id: "r\(i)", payload: ["amount_minor": 150_000])) }
            try await h.post(client, validEnvelope("credit.requested", id: "other", account: "acct_2"))

            var seen: [String] = []
            var cursor: String?
            repeat {
                let (status, page) = try await h.get(client, "/v1/decisions?account_id=acct_1&limit=3" + (cursor.map { "&cursor=\($0)" } ?? ""))
                #expect(status == .ok)
                seen += page["items"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
                cursor = page["next_cursor"]?.stringValue
            } while cursor != nil
            #expect(seen.count == 8)
            #expect(seen == seen.sorted())
            let (_, reviews) = try await h.get(client, "/v1/decisions?outcome=review&account_id=acct_1")
            #expect(reviews["items"]?.arrayValue?.count == 3)
            let (_, none) = try await h.get(client, "/v1/decisions?from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z")
            #expect(none["items"]?.arrayValue?.isEmpty == true)
            let (bad, problem) = try await h.get(client, "/v1/decisions?outcome=maybe&from=soon&limit=0")
            #expect(bad == .unprocessableContent)
            #expect(Set(problem["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? []) == ["outcome", "from", "limit"])
        }
    }

    @Test func metricsCountEventsDecisionsAndPolicyTime() async throws {
        try await EventsHarness.run { client, h in
            try await h.post(client, validEnvelope("credit.requested"))
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                let text = String(buffer: response.body)
                #expect(text.contains(#"arbiter_events_total{type="credit.requested"} 1"#), "\(text)")
                #expect(text.contains(#"arbiter_decisions_total{outcome="review",queue="credits"} 1"#))
                #expect(text.contains(#"arbiter_policy_evaluation_seconds_count{policy="credit_thresholds"} 1"#))
                #expect(text.contains(#"arbiter_http_request_duration_seconds_count{method="POST",route="/v1/events",status="201"} 1"#))
            }
        }
    }

    @Test func aStorageFailureIsAProblemAndNothingIsKept() async throws {
        try await EventsHarness.run { client, h in
            try await h.database.execute(TestDatabase.onPostgres ? "DROP TABLE outbox_actions CASCADE" : "DROP TABLE outbox_actions")
            let (status, body, _) = try await h.post(client, validEnvelope("credit.requested"))
            #expect(status == .internalServerError)
            #expect(body["title"] == "Internal error")
            #expect(body["detail"]?.stringValue?.contains("nothing was acknowledged") == true)
            #expect(try await h.count("SELECT COUNT(*) FROM events") == 0)
            #expect(try await h.count("SELECT COUNT(*) FROM audit_log WHERE kind = 'event.received'") == 0)
        }
    }
}
