import ArbiterCore
import ArbiterPolicy
import Foundation
import Testing

@Suite(.timeLimit(.minutes(5))) struct EngineTests {
    @Test func valuesCrossTheBoundaryIntact() throws {
        let engine = try engine(["probe.lua": policy("""
            local p = event.payload
            assert(math.type(p.big) == "integer", "big should be an integer")
            assert(math.type(p.ratio) == "float", "ratio should be a float")
            assert(p.nothing == null, "null should be null")
            assert(tostring(p.nothing) == "null" and getmetatable(p.nothing) == false, "tostring(null)")
            assert(ctx.account.tier == "standard" and ctx.account.mrr_minor == 0)
            assert(#p.list == 3 and p.list[3].deep == true, "nested values")
            assert(ctx.account.entitlements[2] == "sso", "entitlements")
            assert(ctx.now == 1763800000 and math.type(ctx.now) == "integer", "now")
            assert(ctx.config.region == "eu" and ctx.config.limits.max == 5, "config")
            return approve{ actions = { credit_memo{
              amount_minor = p.amount_minor, currency = p.currency,
              echo = { big = p.big, ratio = p.ratio, text = p.text, list = p.list, nothing = p.nothing },
            } } }
            """)])
        let list: JSONValue = [1, "two", ["deep": true]]
        let event = try creditEvent(extra: [
            "big": .int(4_611_686_018_427_387_904), "ratio": .double(0.25), "text": "naïve — ✓ \"quoted\"\n",
            "list": list, "nothing": .null,
        ])
        var context = activeStandard()
        context.account.entitlements = ["api", "sso"]
        let decision = engine.decide(event, context: context, guardrails: Guardrails())
        #expect(decision.policies.first?.error == nil, "\(decision.policies)")
        let echo = try #require(decision.actions.first?.fields["echo"]?.objectValue)
        #expect(echo["big"] == .int(4_611_686_018_427_387_904))
        #expect(echo["ratio"] == .double(0.25))
        #expect(echo["text"] == "naïve — ✓ \"quoted\"\n")
        #expect(echo["list"] == list)
        #expect(echo["nothing"] == .null)
    }

    @Test func inputAndSharedTablesPassIntoActionsWhole() throws {
        // `event.payload.details` and `REGIONS` are never read field by field before being
        // handed over: they must still arrive complete.
        let engine = try engine(["probe.lua": """
            local REGIONS = { eu = { vat = true }, names = { "EU", "US" } }
            return { name = "probe", on = { "credit.requested" }, decide = function(event, ctx)
              return approve{ actions = { credit_memo{ amount_minor = 5, currency = "USD",
                details = event.payload.details, regions = REGIONS, account = ctx.account } } }
            end }
            """])
        let details: JSONValue = ["ticket": "T-1", "nested": ["deep": 1, "list": [1, 2]]]
        let decision = engine.decide(try creditEvent(extra: ["details": details]), context: activeStandard(), guardrails: Guardrails())
        #expect(decision.policies.first?.error == nil, "\(decision.policies.first?.error ?? "")")
        let fields = try #require(decision.actions.first?.fields)
        #expect(fields["details"] == details)
        #expect(fields["regions"] == ["eu": ["vat": true], "names": ["EU", "US"]])
        #expect(fields["account"]?["tier"] == "standard")
        #expect(fields["account"]?["entitlements"] == .object([:]) || fields["account"]?["entitlements"] == .array([]))
    }

    @Test func helpersBuildTheDecision() throws {
        let engine = try engine(["probe.lua": policy("""
            log("checking", event.payload.amount_minor)
            return review{ queue = "finance-l2", reasons = { money(123456, "USD"), money(-5, "EUR"), money(100, "JPY"), money(1234, "KWD") },
                           sla_hours = 4, approvals_required = 2,
                           actions = { refund{ amount_minor = 100, currency = "USD", payment_id = "pay_1" },
                                       entitlement_grant{ feature = "sso" }, account_suspension{ reason = "fraud" } } }
            """)])
        let decision = engine.decide(try creditEvent(amount: 777), context: activeStandard(), guardrails: Guardrails())
        #expect(decision.outcome == .review)
        #expect(decision.queue == "finance-l2")
        #expect(decision.reasons == ["1234.56 USD", "-0.05 EUR", "100 JPY", "1.234 KWD"])
        #expect(decision.slaSeconds.map { Int($0) } == 14_400)
        #expect(decision.approvalsRequired == 2)
        #expect(decision.actions.map(\.type) == [.refund, .entitlementGrant, .accountSuspension])
        #expect(decision.policies.first?.log == ["checking\t777"])
    }

    struct Malformed: CustomTestStringConvertible, Sendable {
        let lua: String
        let error: String
        var testDescription: String { error }
    }

    static let malformed: [Malformed] = [
        Malformed(lua: "return nil", error: "decide must return approve{...}, review{...} or reject{...}, got nil"),
        Malformed(lua: "return { outcome = 'maybe' }", error: "outcome must be"),
        Malformed(lua: "return approve{ reasons = { 1 } }", error: "reasons[1] must be a string"),
        Malformed(lua: "return approve{ reason = 'typo' }", error: "unknown field 'reason'"),
        Malformed(lua: "return review{ queue = 'Bad Queue' }", error: "queue must be"),
        Malformed(lua: "return review{ sla_hours = -1 }", error: "sla_hours must be"),
        Malformed(lua: "return review{ approvals_required = 9 }", error: "approvals_required must be"),
        Malformed(lua: "return approve{ actions = { { type = 'credit_memo', currency = 'USD' } } }", error: "actions[1].amount_minor: is required"),
        Malformed(lua: "return approve{ actions = { credit_memo{ amount_minor = 10.5, currency = 'USD' } } }", error: "actions[1].amount_minor: must be an integer"),
        Malformed(lua: "return approve{ actions = { credit_memo{ amount_minor = -1, currency = 'USD' } } }", error: "must be a positive integer"),
        Malformed(lua: "return approve{ actions = { credit_memo{ amount_minor = 1, currency = 'XYZ' } } }", error: "ISO 4217"),
        Malformed(lua: "return approve{ actions = { { type = 'wire_transfer' } } }", error: "unknown action type 'wire_transfer'"),
        Malformed(lua: "return approve{ actions = { entitlement_grant{} } }", error: "actions[1].feature: is required"),
        Malformed(lua: "return approve{ actions = { credit_memo{ amount_minor = 1, currency = 'USD', co = coroutine.create(print or tostring) } } }", error: "actions[1].co: thread values cannot leave a policy"),
        Malformed(lua: "return approve{ actions = { credit_memo{ amount_minor = 1, currency = 'USD', f = function() end } } }", error: "actions[1].f: function values cannot leave a policy"),
        Malformed(lua: "return approve{ actions = { credit_memo{ amount_minor = 1, currency = 'USD', x = 1/0 } } }", error: "numbers must be finite"),
        Malformed(lua: "return approve{ actions = { credit_memo{ amount_minor = 1, currency = 'USD', x = { 1, a = 2 } } } }", error: "mixes list items"),
        Malformed(lua: "error('boom')", error: "probe.lua:5: boom"),
        Malformed(lua: "error({ code = 1 })", error: "error object is a table value"),
        Malformed(lua: "error(setmetatable({}, { __tostring = function() while true do end end }))", error: "error object is a table value"),
        Malformed(lua: "local x = nil; return x.y", error: "probe.lua:5: attempt to index a nil value (local 'x')"),
    ]

    @Test(arguments: malformed)
    func malformedResultsAreReviewedNeverApproved(_ bad: Malformed) throws {
        let engine = try engine(["probe.lua": policy(bad.lua)])
        let decision = engine.decide(try creditEvent(), context: activeStandard(), guardrails: Guardrails())
        #expect(decision.outcome == .review)
        #expect(decision.queue == Queue.policyErrors)
        let error = decision.policies.first?.error ?? ""
        #expect(error.contains(bad.error), "error was: \(error)")
        #expect(decision.reasons == [error])
    }

    @Test func compileErrorsNameFileAndLine() throws {
        let engine = PolicyEngine()
        let cases: [(String, String)] = [
            ("return {\n  name = 'x',\n  on = { 'credit.requested' }\n  decide = 1\n}", "broken.lua:4:"),
            ("return 42", "broken.lua: the policy file must return a table"),
            ("return { name = 'x', on = {}, decide = function() end }", "on must list"),
            ("return { name = 'Bad Name', on = 'credit.requested', decide = function() end }", "name must be"),
            ("return { name = 'x', on = 'credit.requested' }", "decide must be a function"),
            ("error('at load')", "broken.lua:1: at load"),
            ("while true do end", "instruction budget exceeded"),
        ]
        for (source, expected) in cases {
            do {
                _ = try engine.compile([PolicySource(file: "broken.lua", source: source)])
                Issue.record("compiled: \(source)")
            } catch {
                #expect("\(error)".contains(expected), "\(error)")
            }
        }
    }

    @Test func duplicateNamesAreRefused() throws {
        let engine = PolicyEngine()
        #expect(throws: PolicyLoadError.self) {
            try engine.compile([PolicySource(file: "a.lua", source: policy("return approve{}", name: "same")),
                                PolicySource(file: "b.lua", source: policy("return approve{}", name: "same"))])
        }
    }

    @Test func combinesRejectOverReviewOverApprove() throws {
        let engine = try engine([
            "a.lua": policy("return approve{ reasons = { 'a ok' }, actions = { credit_memo{ amount_minor = 100, currency = 'USD' } } }", name: "a"),
            "b.lua": policy("if event.payload.reason == 'review' or event.payload.reason == 'reject' then return review{ queue = 'credits', reasons = 'b review' } end return approve{}", name: "b"),
            "c.lua": policy("if event.payload.reason == 'reject' then return reject{ reasons = 'c no' } end return approve{}", name: "c"),
        ])
        let approve = engine.decide(try creditEvent(reason: "fine"), context: activeStandard(), guardrails: Guardrails())
        #expect(approve.outcome == .approve)
        #expect(approve.actions.count == 1)
        let review = engine.decide(try creditEvent(reason: "review"), context: activeStandard(), guardrails: Guardrails())
        #expect(review.outcome == .review)
        #expect(review.queue == "credits")
        #expect(review.reasons == ["b review"])
        #expect(review.actions.count == 1, "proposed actions travel with the review")
        let reject = engine.decide(try creditEvent(reason: "reject"), context: activeStandard(), guardrails: Guardrails())
        #expect(reject.outcome == .reject)
        #expect(reject.reasons == ["c no"])
        #expect(reject.actions.isEmpty)
        #expect(reject.policies.map(\.name) == ["a", "b", "c"])
    }

    @Test func anErrorBesideApprovalsNeverApproves() throws {
        let engine = try engine([
            "a.lua": policy("return approve{}", name: "a"),
            "b.lua": policy("error('broken')", name: "b"),
        ])
        let decision = engine.decide(try creditEvent(), context: activeStandard(), guardrails: Guardrails())
        #expect(decision.outcome == .review)
        #expect(decision.queue == Queue.policyErrors)
    }

    @Test func guardrailCeilingSendsApprovalsToReview() throws {
        let engine = try engine(["a.lua": policy("return approve{ actions = { credit_memo{ amount_minor = event.payload.amount_minor, currency = 'USD' } } }")])
        let decision = engine.decide(try creditEvent(amount: 1_000_000_000), context: activeStandard(), guardrails: Guardrails())
        #expect(decision.outcome == .review)
        #expect(decision.queue == Queue.guardrail)
        #expect(decision.reasons.first == "credit_memo of 10000000.00 USD in this decision exceeds the ceiling of 10000.00 USD")
        let within = engine.decide(try creditEvent(amount: 1_000_000), context: activeStandard(), guardrails: Guardrails())
        #expect(within.outcome == .approve)
    }

    @Test func actionCurrencyMustMatchTheAccount() throws {
        let engine = try engine(["a.lua": policy("return approve{ actions = { credit_memo{ amount_minor = 10, currency = 'EUR' } } }")])
        let decision = engine.decide(try creditEvent(), context: activeStandard(), guardrails: Guardrails())
        #expect(decision.queue == Queue.policyErrors)
        #expect(decision.reasons.first?.contains("does not match the account currency USD") == true)
    }

    @Test func typesWithoutPoliciesAreReviewedOrRecorded() throws {
        let engine = try engine(["a.lua": policy("return approve{}")])
        let refund = try Event(envelope: [
            "id": "r1", "type": "refund.requested", "source": "s", "occurred_at": "2026-11-22T10:00:00Z", "account_id": "a",
            "correlation_id": "c", "payload": ["amount_minor": 5, "currency": "USD", "payment_id": "p", "reason": "r"],
        ])
        let review = engine.decide(refund, context: activeStandard("a"), guardrails: Guardrails())
        #expect(review.outcome == .review)
        #expect(review.queue == Queue.defaultReview)
        let signal = try Event(envelope: [
            "id": "s1", "type": "case.escalated", "source": "s", "occurred_at": "2026-11-22T10:00:00Z", "account_id": "a",
            "correlation_id": "c", "payload": ["case_id": "case_9", "severity": "sev2"],
        ])
        #expect(engine.decide(signal, context: activeStandard("a"), guardrails: Guardrails()).outcome == .recorded)
    }

    @Test func activationSwapsTheSetForNewEvaluations() throws {
        let engine = try engine(["a.lua": policy("return approve{ reasons = 'v1' }", name: "a")])
        #expect(engine.decide(try creditEvent(), context: activeStandard(), guardrails: Guardrails()).reasons == ["v1"])
        let v2 = try engine.compile([PolicySource(file: "a.lua", source: policy("return approve{ reasons = 'v2' }", name: "a"))])
        engine.activate(v2)
        let decision = engine.decide(try creditEvent(), context: activeStandard(), guardrails: Guardrails())
        #expect(decision.reasons == ["v2"])
        #expect(decision.policies.first?.version == v2.policies.first?.version)
    }

    @Test func separateSetsNeverShareAPooledState() throws {
        // Regression: sets built outside compile() once shared generation 0, so the pool
        // handed a state loaded with one policy to an evaluation of another.
        let engine = PolicyEngine(warmStates: 0)
        let a = try engine.compile([PolicySource(file: "a.lua", source: policy("return approve{ reasons = 'a' }", name: "a"))])
        let b = try engine.compile([PolicySource(file: "b.lua", source: policy("return approve{ reasons = 'b' }", name: "b"))])
        let onlyA = engine.set(of: a.policies)
        let onlyB = engine.set(of: b.policies)
        for _ in 0..<3 {
            #expect(engine.decide(try creditEvent(), context: activeStandard(), guardrails: Guardrails(), set: onlyA).reasons == ["a"])
            #expect(engine.decide(try creditEvent(), context: activeStandard(), guardrails: Guardrails(), set: onlyB).reasons == ["b"])
        }
    }

    @Test func concurrentEvaluationsAreIndependent() async throws {
        let engine = try engine(["a.lua": policy("return approve{ reasons = { tostring(event.payload.amount_minor) } }")])
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 1...200 {
                group.addTask {
                    let d = engine.decide(try creditEvent(amount: Int64(i)), context: activeStandard(), guardrails: Guardrails())
                    return d.reasons == [String(i)]
                }
            }
            for try await ok in group { #expect(ok) }
        }
    }
}
