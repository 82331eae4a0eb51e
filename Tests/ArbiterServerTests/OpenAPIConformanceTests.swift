import ArbiterCore
import ArbiterServer
import ArbiterSQLite
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import Yams

/// Holds the server to the OpenAPI document it serves: every documented operation is called,
/// every response seen must be documented for its route, status and content type, and its body
/// must match the schema (a JSON Schema subset: $ref, allOf, anyOf, oneOf, type, enum,
/// required, properties, additionalProperties: false, items, minimum, maximum, pattern).
@Suite(.timeLimit(.minutes(5))) struct OpenAPIConformanceTests {
    @Test func everyResponseMatchesTheDocument() async throws {
        // The repository's policies with a Stripe source (its secret known to the test).
        try await EventsHarness.run(policies: try InboundMappedTests.policies()) { client, h in
            let yaml = try await client.execute(uri: "/openapi.yaml", method: .get) { String(buffer: $0.body) }
            let document = try Self.json(Yams.load(yaml: yaml) as Any)
            #expect(document["openapi"] == "3.1.0")
            let checker = Conformance(document: document)

            func call(_ method: HTTPRequest.Method, _ uri: String, key: String? = nil, body: String? = nil,
                      contentType: String = "application/json", extra: HTTPFields = [:]) async throws -> JSONValue {
                var headers: HTTPFields = [.contentType: contentType]
                headers.append(contentsOf: extra)
                if let key { headers[.authorization] = "Bearer \(key)" }
                return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { response in
                    let text = String(buffer: response.body)
                    checker.check(method: method.rawValue, uri: uri, status: Int(response.status.code),
                                  contentType: response.headers[.contentType] ?? "", body: text)
                    return (try? JSONValue.parse(Data(text.utf8))) ?? .null
                }
            }
            let admin = EventsHarness.admin
            let event = String(decoding: CanonicalJSON.encode(.object(validEnvelope("credit.requested", id: "oa-1"))), as: UTF8.self)

            _ = try await call(.get, "/healthz")
            _ = try await call(.get, "/readyz")
            _ = try await call(.get, "/metrics")
            _ = try await call(.get, "/openapi.yaml")

            let created = try await call(.post, "/v1/keys", key: admin, body: #"{"name":"lead","role":"reviewer","approval_limits":{"USD":50000}}"#)
            _ = try await call(.post, "/v1/keys", key: admin, body: #"{"name":"","role":"boss"}"#)
            _ = try await call(.post, "/v1/keys", key: h.submitter, body: #"{"name":"x","role":"admin"}"#)
            _ = try await call(.get, "/v1/keys", key: admin)
            _ = try await call(.post, "/v1/keys/\(created["id"]?.stringValue ?? "")/revoke", key: admin)
            _ = try await call(.post, "/v1/keys/nope/revoke", key: admin)
            let keys = try await call(.get, "/v1/keys", key: admin)
            let onlyAdmin = keys["keys"]?.arrayValue?.first { $0["role"] == "admin" }?["id"]?.stringValue ?? ""
            _ = try await call(.post, "/v1/keys/\(onlyAdmin)/revoke", key: admin)   // the last admin: 409

            _ = try await call(.put, "/v1/accounts/acct_1", key: h.sync,
                               body: #"{"status":"active","tier":"standard","currency":"USD","entitlements":["api"]}"#)
            _ = try await call(.put, "/v1/accounts/acct_1", key: h.sync, body: #"{"status":"sleeping","mrr_minor":-1}"#)
            _ = try await call(.put, "/v1/accounts/acct_1", key: h.sync, body: "nope")
            _ = try await call(.put, "/v1/accounts/acct_1", key: h.submitter, body: #"{"status":"active"}"#)
            _ = try await call(.get, "/v1/accounts/acct_1", key: h.reviewer)
            _ = try await call(.get, "/v1/accounts/acct_2", key: nil)

            let decided = try await call(.post, "/v1/events", key: h.submitter, body: event)
            _ = try await call(.post, "/v1/events", key: h.submitter, body: event)                       // replay
            _ = try await call(.post, "/v1/events", key: h.submitter, body: event.replacingOccurrences(of: "2500", with: "2600"))  // 409
            _ = try await call(.post, "/v1/events", key: h.submitter,
                               body: String(decoding: CanonicalJSON.encode(.object(validEnvelope("credit.requested", payload: ["amount_minor": 150_000]))), as: UTF8.self))
            _ = try await call(.post, "/v1/events", key: h.submitter, body: #"{"type":"credit.requested"}"#)
            _ = try await call(.post, "/v1/events", key: h.submitter, body: "{")
            _ = try await call(.post, "/v1/events", key: h.submitter, body: "a=b", contentType: "application/x-www-form-urlencoded")
            _ = try await call(.post, "/v1/events", key: h.submitter, body: String(repeating: " ", count: (1 << 20) + 1))
            _ = try await call(.post, "/v1/events", key: h.reviewer, body: event)
            _ = try await call(.post, "/v1/events", key: "wrong", body: event)

            let eventId = decided["event_id"]?.stringValue ?? ""
            let decisionId = decided["decision"]?["id"]?.stringValue ?? ""
            _ = try await call(.get, "/v1/events/\(eventId)", key: h.reviewer)
            _ = try await call(.get, "/v1/events/missing", key: h.reviewer)
            _ = try await call(.get, "/v1/decisions/\(decisionId)", key: h.reviewer)
            _ = try await call(.get, "/v1/decisions/missing", key: h.reviewer)
            _ = try await call(.get, "/v1/decisions?account_id=acct_1&limit=1", key: h.reviewer)
            _ = try await call(.get, "/v1/decisions?outcome=perhaps", key: h.reviewer)

            // Review queues: a second reviewer, items to work, and each command's refusals.
            let second = try await call(.post, "/v1/keys", key: admin, body: #"{"name":"bo","role":"reviewer","approval_limit_minor":100}"#)
            let secondKey = second["secret"]?.stringValue ?? ""
            func reviewItem(_ amount: Int) async throws -> String {
                let body = String(decoding: CanonicalJSON.encode(.object(validEnvelope("credit.requested", payload: ["amount_minor": .int(Int64(amount))]))), as: UTF8.self)
                return try await call(.post, "/v1/events", key: h.submitter, body: body)["decision"]?["review_id"]?.stringValue ?? ""
            }
            let first = try await reviewItem(15000)
            let other = try await reviewItem(16000)
            _ = try await call(.get, "/v1/queues", key: h.reviewer)
            _ = try await call(.get, "/v1/queues", key: h.submitter)
            _ = try await call(.get, "/v1/queues/credits/items", key: h.reviewer)
            _ = try await call(.get, "/v1/queues/credits/items?state=decided&limit=1", key: h.reviewer)
            _ = try await call(.get, "/v1/queues/credits/items?state=lost", key: h.reviewer)
            _ = try await call(.get, "/v1/reviews/\(first)", key: h.reviewer)
            _ = try await call(.get, "/v1/reviews/missing", key: h.reviewer)
            _ = try await call(.post, "/v1/reviews/\(first)/claim", key: h.reviewer)
            _ = try await call(.post, "/v1/reviews/\(first)/claim", key: secondKey)                     // 409: claimed
            _ = try await call(.post, "/v1/reviews/\(first)/release", key: secondKey)                   // 403: not the claimer
            _ = try await call(.post, "/v1/reviews/\(first)/release", key: h.reviewer)
            _ = try await call(.post, "/v1/reviews/missing/release", key: h.reviewer)
            _ = try await call(.post, "/v1/reviews/\(first)/release", key: h.reviewer)                  // 409: not claimed
            _ = try await call(.post, "/v1/reviews/\(first)/approve", key: secondKey)                   // 403: over the limit
            _ = try await call(.post, "/v1/reviews/\(first)/approve", key: h.reviewer, body: #"{"amount_minor":999999}"#)  // 422
            _ = try await call(.post, "/v1/reviews/\(first)/approve", key: h.reviewer, body: #"{"comment":"ok","amount_minor":12000}"#)
            _ = try await call(.post, "/v1/reviews/\(first)/approve", key: h.reviewer)                 // 409: decided
            _ = try await call(.post, "/v1/reviews/missing/approve", key: h.reviewer)
            _ = try await call(.post, "/v1/reviews/\(other)/reject", key: h.reviewer, body: "{}")     // 422: comment
            _ = try await call(.post, "/v1/reviews/\(other)/reject", key: h.submitter, body: #"{"comment":"x"}"#)  // 403: role
            _ = try await call(.post, "/v1/reviews/\(other)/assign", key: admin, body: #"{"reviewer":"nobody"}"#)  // 422
            _ = try await call(.post, "/v1/reviews/\(other)/assign", key: h.reviewer, body: #"{"reviewer":"nobody"}"#)  // 403
            _ = try await call(.post, "/v1/reviews/\(other)/assign", key: admin, body: "{\"reviewer\":\"\(second["id"]?.stringValue ?? "")\"}")
            _ = try await call(.post, "/v1/reviews/missing/assign", key: admin, body: "{\"reviewer\":\"\(second["id"]?.stringValue ?? "")\"}")
            _ = try await call(.post, "/v1/reviews/\(other)/claim", key: h.reviewer)                  // 409: assigned to bo
            _ = try await call(.post, "/v1/reviews/\(other)/reject", key: secondKey, body: #"{"comment":"not covered by the contract"}"#)
            _ = try await call(.post, "/v1/reviews/\(other)/reject", key: secondKey, body: #"{"comment":"again"}"#)  // 409
            _ = try await call(.post, "/v1/reviews/\(other)/assign", key: admin, body: "{\"reviewer\":\"\(second["id"]?.stringValue ?? "")\"}")  // 409
            _ = try await call(.post, "/v1/reviews/missing/reject", key: h.reviewer, body: #"{"comment":"x"}"#)
            _ = try await call(.post, "/v1/reviews/missing/claim", key: h.reviewer)
            _ = try await call(.get, "/v1/reviews/\(other)", key: nil)

            // Delivery: no connector here, so actions stay pending; a dead letter is made by hand.
            let operatorKey = try await call(.post, "/v1/keys", key: admin, body: #"{"name":"ops","role":"operator"}"#)["secret"]?.stringValue ?? ""
            let pending = try await call(.get, "/v1/actions?status=pending&limit=2", key: operatorKey)
            let actionId = pending["items"]?.arrayValue?.first?["id"]?.stringValue ?? ""
            _ = try await call(.get, "/v1/actions?status=lost", key: operatorKey)
            _ = try await call(.get, "/v1/actions", key: h.submitter)
            _ = try await call(.get, "/v1/actions/\(actionId)", key: operatorKey)
            _ = try await call(.get, "/v1/actions/missing", key: operatorKey)
            _ = try await call(.post, "/v1/actions/\(actionId)/retry", key: operatorKey)                // 409: not dead
            _ = try await call(.post, "/v1/actions/missing/retry", key: operatorKey)
            _ = try await call(.post, "/v1/actions/\(actionId)/retry", key: h.reviewer)                  // 403
            _ = try await call(.post, "/v1/actions/\(actionId)/retry", key: operatorKey, body: #"{"note":1}"#)  // 422
            try await h.database.execute("UPDATE outbox_actions SET status = 'dead' WHERE id = ?", [actionId])
            _ = try await call(.post, "/v1/actions/\(actionId)/retry", key: operatorKey, body: #"{"comment":"ERP back"}"#)
            _ = try await call(.post, "/v1/actions/\(actionId)/cancel", key: operatorKey, body: "{}")    // 422
            _ = try await call(.post, "/v1/actions/\(actionId)/cancel", key: operatorKey, body: #"{"comment":"by hand"}"#)
            _ = try await call(.post, "/v1/actions/\(actionId)/cancel", key: operatorKey, body: #"{"comment":"again"}"#)  // 409
            _ = try await call(.post, "/v1/actions/missing/cancel", key: operatorKey, body: #"{"comment":"x"}"#)
            _ = try await call(.post, "/v1/actions/\(actionId)/cancel", key: h.submitter, body: #"{"comment":"x"}"#)  // 403

            // Policy versions: publish (text and JSON, new and again, refusals), read, activate, roll back, deactivate.
            let policyAdmin = try await call(.post, "/v1/keys", key: admin, body: #"{"name":"finance","role":"policy_admin"}"#)["secret"]?.stringValue ?? ""
            let stricter = try PoliciesTests.stricterCreditPolicy()
            let published = try await call(.post, "/v1/policies", key: policyAdmin, body: stricter, contentType: "text/x-lua")
            let newVersion = published["version"]?.stringValue ?? ""
            _ = try await call(.post, "/v1/policies", key: policyAdmin,
                               body: String(decoding: CanonicalJSON.encode(.object(["source": .string(stricter)])), as: UTF8.self))
            _ = try await call(.post, "/v1/policies", key: policyAdmin, body: "return {", contentType: "text/x-lua")
            _ = try await call(.post, "/v1/policies", key: policyAdmin, body: "{}")
            _ = try await call(.post, "/v1/policies", key: policyAdmin, body: "{", contentType: "application/json")
            _ = try await call(.post, "/v1/policies", key: h.submitter, body: stricter, contentType: "text/x-lua")
            _ = try await call(.get, "/v1/policies", key: h.reviewer)
            _ = try await call(.get, "/v1/policies", key: h.submitter)
            _ = try await call(.get, "/v1/policies/credit_thresholds/versions", key: policyAdmin)
            _ = try await call(.get, "/v1/policies/nope/versions", key: policyAdmin)
            _ = try await call(.get, "/v1/policies/credit_thresholds/versions/\(newVersion)", key: policyAdmin)
            _ = try await call(.get, "/v1/policies/credit_thresholds/versions/nope", key: policyAdmin)
            _ = try await call(.post, "/v1/policies/credit_thresholds/versions/\(newVersion)/activate", key: policyAdmin)
            _ = try await call(.post, "/v1/policies/credit_thresholds/versions/nope/activate", key: policyAdmin)
            _ = try await call(.post, "/v1/policies/credit_thresholds/versions/\(newVersion)/activate", key: h.reviewer)
            _ = try await call(.post, "/v1/policies/credit_thresholds/rollback", key: policyAdmin)
            _ = try await call(.post, "/v1/policies/nope/rollback", key: policyAdmin)
            _ = try await call(.post, "/v1/policies/credit_thresholds/rollback", key: h.reviewer)
            _ = try await call(.post, "/v1/policies/credit_thresholds/deactivate", key: policyAdmin)
            _ = try await call(.post, "/v1/policies/credit_thresholds/deactivate", key: policyAdmin)
            _ = try await call(.post, "/v1/policies/credit_thresholds/deactivate", key: h.reviewer)
            _ = try await call(.post, "/v1/policies", key: nil, body: stricter, contentType: "text/x-lua")
            _ = try await call(.post, "/v1/policies/credit_thresholds/versions/\(newVersion)/approve", key: policyAdmin)  // 409: nothing proposed
            _ = try await call(.post, "/v1/policies/credit_thresholds/versions/\(newVersion)/approve", key: h.reviewer)    // 403

            // Seeing a change first: shadow (a live event differs: default-review → the credits queue), report, stop;
            // simulate; backtest and its job.
            let from = Timestamp.format(Date().addingTimeInterval(-600))
            _ = try await call(.post, "/v1/policies/credit_thresholds/versions/\(newVersion)/shadow", key: policyAdmin)
            _ = try await call(.post, "/v1/policies/credit_thresholds/versions/nope/shadow", key: policyAdmin)
            _ = try await call(.post, "/v1/policies/credit_thresholds/versions/\(newVersion)/shadow", key: h.reviewer)
            _ = try await call(.post, "/v1/events", key: h.submitter, body: CanonicalJSON.string(.object(validEnvelope("credit.requested"))))
            #expect(try await eventually {
                try await call(.get, "/v1/policies/credit_thresholds/shadow-report", key: h.reviewer)["differences"]?.arrayValue?.isEmpty == false
            })
            _ = try await call(.get, "/v1/policies/credit_thresholds/shadow-report?limit=0", key: h.reviewer)
            _ = try await call(.get, "/v1/policies/nope/shadow-report", key: h.reviewer)
            _ = try await call(.delete, "/v1/policies/credit_thresholds/shadow", key: policyAdmin)
            _ = try await call(.delete, "/v1/policies/credit_thresholds/shadow", key: policyAdmin)   // 409
            _ = try await call(.get, "/v1/policies/credit_thresholds/shadow-report?version=\(newVersion)", key: h.reviewer)
            let simulated = CanonicalJSON.string(.object(validEnvelope("credit.requested")))
            _ = try await call(.post, "/v1/simulate", key: policyAdmin, body: "{\"event\": \(simulated), \"versions\": {\"credit_thresholds\": \"\(newVersion)\"}}")
            _ = try await call(.post, "/v1/simulate", key: policyAdmin, body: "{\"event\": {}}")
            _ = try await call(.post, "/v1/simulate", key: policyAdmin, body: "{\"event\": \(simulated), \"versions\": {\"credit_thresholds\": \"nope\"}}")
            _ = try await call(.post, "/v1/simulate", key: h.submitter, body: "{\"event\": \(simulated)}")
            let to = Timestamp.format(Date().addingTimeInterval(600))
            let job = try await call(.post, "/v1/policies/credit_thresholds/versions/\(newVersion)/backtest", key: policyAdmin,
                                     body: "{\"from\": \"\(from)\", \"to\": \"\(to)\"}")
            _ = try await call(.post, "/v1/policies/credit_thresholds/versions/\(newVersion)/backtest", key: policyAdmin, body: "{\"from\": 1}")
            _ = try await call(.post, "/v1/policies/credit_thresholds/versions/nope/backtest", key: policyAdmin,
                               body: "{\"from\": \"\(from)\", \"to\": \"\(to)\"}")
            _ = try await call(.get, "/v1/policies/credit_thresholds/backtests/\(job["id"]?.stringValue ?? "")", key: h.reviewer)
            _ = try await call(.get, "/v1/policies/credit_thresholds/backtests/nope", key: h.reviewer)
            // breaker reset: nothing open (409), not an operator (403); BreakerTests open and reset one.
            _ = try await call(.post, "/v1/policies/credit_thresholds/breaker/reset", key: policyAdmin)
            _ = try await call(.post, "/v1/policies/credit_thresholds/breaker/reset", key: h.reviewer)

            // Audit trail: query with filters and paging, server-side verification, the export signing key.
            let auditor = try await call(.post, "/v1/keys", key: admin, body: #"{"name":"auditor","role":"auditor"}"#)["secret"]?.stringValue ?? ""
            _ = try await call(.get, "/v1/audit?limit=2", key: auditor)
            _ = try await call(.get, "/v1/audit?correlation_id=case-42&kind=decision.made", key: auditor)
            _ = try await call(.get, "/v1/audit?after_seq=-1", key: auditor)
            _ = try await call(.get, "/v1/audit", key: h.reviewer)
            _ = try await call(.get, "/v1/audit/verify", key: auditor)
            _ = try await call(.get, "/v1/audit/checkpoint", key: auditor)
            _ = try await call(.get, "/v1/audit/checkpoint", key: h.submitter)
            _ = try await call(.get, "/v1/audit/verify", key: nil)
            _ = try await call(.get, "/v1/exports/public-key", key: auditor)
            _ = try await call(.get, "/v1/exports/public-key", key: h.submitter)
            let window = #""from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z""#
            let export = try await call(.post, "/v1/exports", key: auditor, body: #"{"kind": "audit", \#(window), "format": "jsonl"}"#)
            let csv = try await call(.post, "/v1/exports", key: auditor, body: #"{"kind": "decisions", \#(window), "format": "csv", "filters": {"outcome": "approve"}}"#)
            _ = try await call(.get, "/v1/exports/\(csv["id"]?.stringValue ?? "")/file", key: auditor)
            _ = try await call(.post, "/v1/exports", key: auditor, body: #"{"kind": "decision", \#(window)}"#)
            _ = try await call(.post, "/v1/exports", key: h.reviewer, body: #"{"kind": "audit", \#(window)}"#)
            let exportId = export["id"]?.stringValue ?? ""
            _ = try await call(.get, "/v1/exports/\(exportId)", key: auditor)
            _ = try await call(.get, "/v1/exports/\(exportId)/manifest", key: auditor)
            _ = try await call(.get, "/v1/exports/\(exportId)/file", key: auditor)
            _ = try await call(.get, "/v1/exports/missing/file", key: auditor)

            // Reconciliation: a mapping saved and refused, an upload, its files, exceptions resolved and refused.
            _ = try await call(.put, "/v1/reconciliations/mappings/oa", key: admin,
                               body: #"{"columns": {"key": "Key", "amount": "Amount", "currency": "Currency", "status": "Status"}, "posted": ["Open"]}"#)
            _ = try await call(.put, "/v1/reconciliations/mappings/oa2", key: admin, body: #"{"columns": {"key": "Key"}}"#)
            _ = try await call(.get, "/v1/reconciliations/mappings", key: auditor)
            _ = try await call(.get, "/v1/reconciliations/mappings/oa", key: auditor)
            _ = try await call(.get, "/v1/reconciliations/mappings/missing", key: auditor)
            let period = "from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z"
            let run = try await call(.post, "/v1/reconciliations?mapping=oa&\(period)", key: auditor,
                                     body: "Key,Amount,Currency,Status\r\nnot-ours,1.00,USD,Open\r\n", contentType: "text/csv")
            _ = try await call(.post, "/v1/reconciliations?mapping=nope&\(period)", key: auditor, body: "Key\r\n", contentType: "text/csv")
            _ = try await call(.post, "/v1/reconciliations?mapping=oa&\(period)", key: auditor, body: "Nothing\r\n", contentType: "text/csv")
            _ = try await call(.post, "/v1/reconciliations", key: auditor, body: #"{"pull": "erp", \#(window)}"#)
            _ = try await call(.post, "/v1/reconciliations", key: h.reviewer, body: #"{"pull": "erp", \#(window)}"#)
            let runId = run["id"]?.stringValue ?? ""
            _ = try await call(.get, "/v1/reconciliations", key: auditor)
            _ = try await call(.get, "/v1/reconciliations/\(runId)", key: auditor)
            _ = try await call(.get, "/v1/reconciliations/missing", key: auditor)
            for file in ["report", "csv", "manifest", "erp-file"] { _ = try await call(.get, "/v1/reconciliations/\(runId)/\(file)", key: auditor) }
            let exceptions = try await call(.get, "/v1/reconciliations/exceptions?state=open", key: auditor)
            _ = try await call(.get, "/v1/reconciliations/exceptions?state=maybe", key: auditor)
            let exceptionId = exceptions["items"]?.arrayValue?.first?["id"]?.stringValue ?? ""
            _ = try await call(.get, "/v1/reconciliations/exceptions/\(exceptionId)", key: auditor)
            _ = try await call(.get, "/v1/reconciliations/exceptions/missing", key: auditor)
            _ = try await call(.post, "/v1/reconciliations/exceptions/\(exceptionId)/assign", key: admin, body: #"{"owner": "ana"}"#)
            _ = try await call(.post, "/v1/reconciliations/exceptions/\(exceptionId)/resolve", key: auditor, body: #"{"resolution": "accept"}"#)
            _ = try await call(.post, "/v1/reconciliations/exceptions/\(exceptionId)/resolve", key: admin, body: #"{"resolution": "resend"}"#)
            _ = try await call(.post, "/v1/reconciliations/exceptions/\(exceptionId)/resolve", key: admin, body: #"{"resolution": "accept"}"#)
            _ = try await call(.post, "/v1/reconciliations/exceptions/\(exceptionId)/resolve", key: admin,
                               body: #"{"resolution": "accept", "comment": "a manual match"}"#)
            _ = try await call(.delete, "/v1/reconciliations/mappings/oa", key: admin)
            _ = try await call(.delete, "/v1/reconciliations/mappings/oa", key: admin)

            // Webhooks in: a processed message and its retry, an unmatched one replayed, refusals.
            let signature = HTTPField.Name("Stripe-Signature")!
            func stripe(_ id: String, customer: String) -> String {
                String(decoding: CanonicalJSON.encode(InboundStripeTests.event(id, "invoice.payment_failed", InboundStripeTests.invoice(customer: customer))),
                       as: UTF8.self)
            }
            _ = try await call(.put, "/v1/accounts/acct_stripe", key: h.sync, body: #"{"status":"active","external_refs":{"stripe":"cus_oa"}}"#)
            for body in [stripe("evt_oa_1", customer: "cus_oa"), stripe("evt_oa_1", customer: "cus_oa"), stripe("evt_oa_2", customer: "cus_none")] {
                _ = try await call(.post, "/v1/inbound/stripe", body: body, extra: [signature: InboundStripeTests.signature(Array(body.utf8))])
            }
            _ = try await call(.post, "/v1/inbound/stripe", body: stripe("evt_oa_3", customer: "cus_oa"), extra: [signature: "t=1,v1=00"])
            _ = try await call(.post, "/v1/inbound/stripe", body: stripe("evt_oa_3", customer: "cus_oa"))
            _ = try await call(.post, "/v1/inbound/nope", body: "{}")
            _ = try await call(.post, "/v1/inbound/stripe", body: String(repeating: " ", count: (1 << 20) + 1))
            let unmatched = try await call(.get, "/v1/inbound/messages?status=unmatched", key: admin)["messages"]?.arrayValue?.first?["id"]?.stringValue ?? ""
            _ = try await call(.get, "/v1/inbound/messages?status=lost", key: admin)
            _ = try await call(.get, "/v1/inbound/messages", key: h.submitter)
            _ = try await call(.get, "/v1/inbound/messages/\(unmatched)", key: admin)
            _ = try await call(.get, "/v1/inbound/messages/missing", key: admin)
            _ = try await call(.put, "/v1/accounts/acct_none", key: h.sync, body: #"{"status":"active","external_refs":{"stripe":"cus_none"}}"#)
            _ = try await call(.post, "/v1/inbound/messages/\(unmatched)/replay", key: admin)
            _ = try await call(.post, "/v1/inbound/messages/\(unmatched)/replay", key: admin)   // processed now: 409
            _ = try await call(.post, "/v1/inbound/messages/missing/replay", key: admin)
            _ = try await call(.get, "/v1/inbound/failures", key: admin)
            _ = try await call(.get, "/v1/inbound/failures", key: h.reviewer)

            // Mapping versions: list, publish (refused and accepted), dry run, activate.
            _ = try await call(.get, "/v1/inbound/sources", key: admin)
            _ = try await call(.get, "/v1/inbound/sources/chargebee/mappings", key: admin)
            _ = try await call(.get, "/v1/inbound/sources/nope/mappings", key: admin)
            let script = try String(contentsOf: repositoryRoot.appendingPathComponent("Policies/mappings/chargebee.lua"), encoding: .utf8)
                + "\n-- v2\n"
            let tests = try String(contentsOf: repositoryRoot.appendingPathComponent("Policies/mappings/tests/chargebee.json"), encoding: .utf8)
            func publish(_ script: String) -> String {
                String(decoding: CanonicalJSON.encode(["script": .string(script), "tests": (try? JSONValue.parse(Data(tests.utf8))) ?? .null]),
                       as: UTF8.self)
            }
            _ = try await call(.post, "/v1/inbound/sources/chargebee/mappings", key: admin, body: publish("return {"))
            let version = try await call(.post, "/v1/inbound/sources/chargebee/mappings", key: admin, body: publish(script))["version"]?.stringValue ?? ""
            _ = try await call(.post, "/v1/inbound/sources/chargebee/mappings/\(version)/dry-run", key: admin, body: #"{"limit": 10}"#)
            _ = try await call(.post, "/v1/inbound/sources/chargebee/mappings/\(version)/dry-run", key: admin, body: #"{"limit": 0}"#)
            _ = try await call(.post, "/v1/inbound/sources/chargebee/mappings/\(version)/activate", key: admin)
            _ = try await call(.post, "/v1/inbound/sources/chargebee/mappings/missing/activate", key: admin)
            _ = try await call(.post, "/v1/inbound/sources/stripe/mappings/missing/activate", key: admin)
            _ = try await call(.get, "/v1/inbound/sources/chargebee", key: admin)
            _ = try await call(.get, "/v1/actions?target=answers", key: admin)
            _ = try await call(.get, "/v1/actions?target=nowhere", key: admin)
            _ = try await call(.get, "/v1/inbound/sources/nope", key: admin)
            _ = try await call(.put, "/v1/inbound/sources/relay", key: admin, body: #"{"kind": "stripe", "secrets": [{"value": "whsec_1"}]}"#)
            _ = try await call(.put, "/v1/inbound/sources/relay", key: admin, body: #"{"kind": "stripe", "secrets": [{"env": "UNSET_VARIABLE"}]}"#)
            _ = try await call(.put, "/v1/inbound/sources/relay", key: admin, body: #"{"kind": "mapped", "secrets": [{"value": "s"}]}"#)
            _ = try await call(.put, "/v1/inbound/sources/relay", key: admin, body: "[]")
            _ = try await call(.delete, "/v1/inbound/sources/relay", key: admin)
            _ = try await call(.delete, "/v1/inbound/sources/relay", key: admin)

            let report = checker.report()
            #expect(report.problems.isEmpty, "\(report.problems.joined(separator: "\n"))")
            #expect(report.unexercised.isEmpty, "documented but never called: \(report.unexercised)")
        }
    }

    /// Yams' plain values as JSON.
    static func json(_ value: Any) throws -> JSONValue {
        switch value {
        case let v as [String: Any]: return .object(try v.mapValues(json))
        case let v as [Any]: return .array(try v.map(json))
        case let v as Bool: return .bool(v)
        case let v as Int: return .int(Int64(v))
        case let v as Double: return .double(v)
        case let v as String: return .string(v)
        case is NSNull: return .null
        default: throw TestFailure("unexpected YAML value \(value)")
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Checks responses against an OpenAPI document and tracks which operations were called.
final class Conformance: @unchecked Sendable {
    let document: JSONValue
    private let lock = NSLock()
    private var problems: [String] = []
    private var exercised: Set<String> = []

    init(document: JSONValue) { self.document = document }

    func check(method: String, uri: String, status: Int, contentType: String, body: String) {
        lock.lock()
        defer { lock.unlock() }
        let path = String(uri.split(separator: "?", maxSplits: 1).first ?? "")
        guard let (template, item) = match(path) else {
            problems.append("\(method) \(path): no documented path")
            return
        }
        guard let operation = item[method.lowercased()] else {
            problems.append("\(method) \(template): method not documented")
            return
        }
        exercised.insert("\(method) \(template)")
        guard let response = operation["responses"]?[String(status)].map(resolve) else {
            problems.append("\(method) \(template): status \(status) not documented (body: \(body.prefix(200)))")
            return
        }
        guard let content = response["content"]?.objectValue else { return }
        guard let (_, media) = content.first(where: { contentType.hasPrefix($0.key) }) else {
            problems.append("\(method) \(template) \(status): content type '\(contentType)' not documented (\(content.keys.sorted()))")
            return
        }
        guard let schema = media["schema"] else { return }
        let value: JSONValue
        if contentType.hasPrefix("application/json") || contentType.hasPrefix("application/problem+json") {
            guard let parsed = try? JSONValue.parse(Data(body.utf8)) else {
                problems.append("\(method) \(template) \(status): body is not JSON")
                return
            }
            value = parsed
        } else {
            value = .string(body)
        }
        for error in validate(value, schema, at: "body") {
            problems.append("\(method) \(template) \(status): \(error)")
        }
    }

    func report() -> (problems: [String], unexercised: [String]) {
        lock.lock()
        defer { lock.unlock() }
        var documented: [String] = []
        for (path, item) in document["paths"]?.objectValue ?? [:] {
            for method in ["get", "put", "post", "delete", "patch"] where item[method] != nil {
                documented.append("\(method.uppercased()) \(path)")
            }
        }
        return (problems, documented.filter { !exercised.contains($0) }.sorted())
    }

    private func match(_ path: String) -> (String, JSONValue)? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        var found: (template: String, item: JSONValue, parameters: Int)?
        for (template, item) in document["paths"]?.objectValue ?? [:] {
            let pattern = template.split(separator: "/", omittingEmptySubsequences: false)
            guard pattern.count == parts.count else { continue }
            func isParameter(_ p: Substring) -> Bool { p.hasPrefix("{") && p.hasSuffix("}") }
            if zip(pattern, parts).allSatisfy({ p, s in (isParameter(p) && !s.isEmpty) || p == s }) {
                // As the router does: a literal segment wins over a parameter.
                let parameters = pattern.filter(isParameter).count
                if parameters < found?.parameters ?? Int.max { found = (template, item, parameters) }
            }
        }
        return found.map { ($0.template, $0.item) }
    }

    private func resolve(_ value: JSONValue) -> JSONValue {
        guard let ref = value["$ref"]?.stringValue, ref.hasPrefix("#/") else { return value }
        var node: JSONValue? = document
        for part in ref.dropFirst(2).split(separator: "/") { node = node?[String(part)] }
        return node.map(resolve) ?? .null
    }

    func validate(_ value: JSONValue, _ rawSchema: JSONValue, at path: String) -> [String] {
        let schema = resolve(rawSchema)
        var errors: [String] = []
        for part in schema["allOf"]?.arrayValue ?? [] { errors += validate(value, part, at: path) }
        for key in ["anyOf", "oneOf"] {
            if let options = schema[key]?.arrayValue, !options.contains(where: { validate(value, $0, at: path).isEmpty }) {
                errors.append("\(path): matches none of \(key)")
            }
        }
        if let type = schema["type"] {
            let allowed = type.arrayValue?.compactMap(\.stringValue) ?? [type.stringValue ?? ""]
            if !allowed.contains(where: { Self.hasType(value, $0) }) {
                return errors + ["\(path): expected \(allowed.joined(separator: " or ")), got \(value.typeName)"]
            }
        }
        if let choices = schema["enum"]?.arrayValue, !choices.contains(value) {
            errors.append("\(path): \(CanonicalJSON.string(value)) is not one of \(CanonicalJSON.string(.array(choices)))")
        }
        if case .int(let n) = value {
            if let minimum = schema["minimum"]?.intValue, n < minimum { errors.append("\(path): \(n) < minimum \(minimum)") }
            if let maximum = schema["maximum"]?.intValue, n > maximum { errors.append("\(path): \(n) > maximum \(maximum)") }
        }
        if case .string(let s) = value, let pattern = schema["pattern"]?.stringValue,
           s.range(of: pattern, options: .regularExpression) == nil {
            errors.append("\(path): '\(s)' does not match \(pattern)")
        }
        if case .object(let fields) = value {
            for name in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where fields[name] == nil {
                errors.append("\(path): missing required '\(name)'")
            }
            let properties = schema["properties"]?.objectValue ?? [:]
            for (name, field) in fields {
                if let property = properties[name] {
                    errors += validate(field, property, at: "\(path).\(name)")
                } else if schema["additionalProperties"] == .bool(false) {
                    errors.append("\(path): '\(name)' is not documented")
                }
            }
        }
        if case .array(let items) = value, let itemSchema = schema["items"] {
            for (i, item) in items.enumerated() { errors += validate(item, itemSchema, at: "\(path)[\(i)]") }
        }
        return errors
    }

    static func hasType(_ value: JSONValue, _ type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("integer", .int), ("number", .int), ("number", .double),
             ("string", .string), ("array", .array), ("object", .object): true
        default: false
        }
    }
}
