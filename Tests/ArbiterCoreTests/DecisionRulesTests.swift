import ArbiterCore
import Testing

/// Combining the policies' verdicts and the guardrails, as pure rules.
@Suite(.timeLimit(.minutes(1))) struct DecisionRulesTests {
    static func memo(_ minor: Int64, _ currency: String = "USD") throws -> ProposedAction {
        try ProposedAction(fields: ["type": "credit_memo", "amount_minor": .int(minor), "currency": .string(currency)], index: 0)
    }

    static func verdict(_ name: String, _ outcome: PolicyOutcome, queue: String? = nil, reasons: [String] = [],
                        actions: [ProposedAction] = [], sla: Int64? = nil, approvals: Int? = nil) -> PolicyResult {
        PolicyResult(name: name, version: "v-\(name)", outcome: outcome, queue: queue, reasons: reasons, actions: actions,
                     slaSeconds: sla, approvalsRequired: approvals)
    }

    static func combine(_ results: [PolicyResult], _ type: EventType = .creditRequested, currency: String? = "USD",
                        guardrails: Guardrails = Guardrails()) -> Decision {
        DecisionCombiner.combine(results, eventType: type, accountCurrency: currency, guardrails: guardrails)
    }

    @Test func rejectBeatsReviewBeatsApprove() throws {
        let approve = Self.verdict("a", .approve, reasons: ["fine"], actions: [try Self.memo(100)])
        let review = Self.verdict("b", .review, queue: "credits", reasons: ["look"])
        let reject = Self.verdict("c", .reject, reasons: ["no"])

        let rejected = Self.combine([approve, review, reject])
        #expect(rejected.outcome == .reject)
        #expect(rejected.reasons == ["no"], "only the rejecting policies' reasons")
        #expect(rejected.actions.isEmpty, "a rejection sends nothing")

        let reviewed = Self.combine([approve, review])
        #expect(reviewed.outcome == .review && reviewed.queue == "credits")
        #expect(reviewed.actions.map(\.money) == [Money(amountMinor: 100, currency: Currency("USD")!)], "proposed for the reviewer")

        let approved = Self.combine([approve])
        #expect(approved.outcome == .approve && approved.reasons == ["fine"] && approved.approvalsRequired == 0)
    }

    @Test func reviewsTakeTheFirstQueueTheShortestSLAAndTheMostApprovals() {
        let decision = Self.combine([
            Self.verdict("a", .review, queue: "credits", sla: 8 * 3600, approvals: 1),
            Self.verdict("b", .review, queue: "finance-l2", sla: 4 * 3600, approvals: 2),
        ])
        #expect(decision.queue == "credits")
        #expect(decision.slaSeconds == Int64(4 * 3600))
        #expect(decision.approvalsRequired == 2)
    }

    @Test func anErrorNeverApproves() {
        let failed = PolicyResult.failure(name: "a", version: "v", error: "boom")
        let decision = Self.combine([Self.verdict("b", .approve), failed])
        #expect(decision.outcome == .review)
        #expect(decision.queue == Queue.policyErrors)
        #expect(decision.reasons == ["boom"])
    }

    @Test func moneyInAnotherCurrencyThanTheAccountsIsThePolicysError() throws {
        let decision = Self.combine([Self.verdict("a", .approve, actions: [try Self.memo(100, "EUR")])], currency: "USD")
        #expect(decision.outcome == .review && decision.queue == Queue.policyErrors)
        #expect(decision.policies.first?.error == "action currency EUR does not match the account currency USD")
    }

    @Test func noPolicyMeansReviewForRequestsAndRecordedForSignals() {
        let request = Self.combine([], .refundRequested)
        #expect(request.outcome == .review && request.queue == Queue.defaultReview)
        #expect(request.reasons == ["no active policy decides refund.requested events"])
        #expect(Self.combine([], .paymentFailed).outcome == .recorded)
    }

    /// Ceilings cap the total a decision moves per type and currency.
    @Test func guardrailsCapTheTotalPerTypeAndCurrency() throws {
        var guardrails = Guardrails()
        try guardrails.set("credit_memo=USD:1000000")
        let three = try [Self.memo(900_000), Self.memo(900_000), Self.memo(900_000)]
        #expect(guardrails.violations(three) == ["credit_memo of 27000.00 USD in this decision exceeds the ceiling of 10000.00 USD"])
        #expect(guardrails.violations([try Self.memo(1_000_000)]).isEmpty, "the ceiling itself is allowed")
        #expect(guardrails.violations([try Self.memo(100, "JPY")]).first?.contains("no ceiling is configured for credit_memo in JPY") == true)

        let decision = Self.combine([Self.verdict("a", .approve, reasons: ["ok"], actions: three)], guardrails: guardrails)
        #expect(decision.outcome == .review && decision.queue == Queue.guardrail)
        #expect(decision.reasons.last == "ok")
    }

    @Test func aCeilingFlagNamesWhatIsWrong() {
        var guardrails = Guardrails()
        for (flag, problem) in [("credit_memo", "expected TYPE=CURRENCY:MINOR"), ("account_suspension=USD:1", "must be credit_memo or refund"),
                                ("refund=XXX:1", "XXX is not an ISO 4217 currency code"), ("refund=USD:0", "positive integer of minor units"),
                                ("refund=USD:1000000000000000", "positive integer of minor units")] {
            #expect(throws: Refusal.self, "\(flag)") { try guardrails.set(flag) }
            do { try guardrails.set(flag) } catch {
                #expect(error.errors.first?.message.contains(problem) == true, "\(flag): \(error.errors)")
            }
        }
    }
}

/// Money in minor units: scaling by the currency's exponent, and the limits.
@Suite(.timeLimit(.minutes(1))) struct MoneyTests {
    @Test func formatsInTheCurrencysMajorUnit() {
        #expect(Money(amountMinor: 2500, currency: Currency("USD")!).description == "25.00 USD")
        #expect(Money(amountMinor: 5, currency: Currency("EUR")!).description == "0.05 EUR")
        #expect(Money(amountMinor: -5, currency: Currency("EUR")!).description == "-0.05 EUR")
        #expect(Money(amountMinor: 100, currency: Currency("JPY")!).description == "100 JPY")
        #expect(Money(amountMinor: 1234, currency: Currency("KWD")!).description == "1.234 KWD")
        #expect(Money.format(Int64.min, exponent: 2) == "-92233720368547758.08", "no overflow at the extreme")
    }

    @Test func onlyActiveISOCodes() {
        #expect(Currency("USD") != nil && Currency("XCG") != nil)
        for code in ["usd", "US", "USDD", "XXX", "XAU", ""] { #expect(Currency(code) == nil, "\(code)") }
    }

    /// The sandbox's money() formats from this one table.
    @Test func theExponentTableListsEveryCurrencyNotInHundredths() {
        let table = Currency.exponentTable
        #expect(table.count % 4 == 0)
        var entries: [String: Int] = [:]
        var rest = Substring(table)
        while !rest.isEmpty {
            entries[String(rest.prefix(3))] = Int(String(rest.dropFirst(3).prefix(1)))
            rest = rest.dropFirst(4)
        }
        #expect(entries["JPY"] == 0 && entries["KRW"] == 0 && entries["KWD"] == 3 && entries["BHD"] == 3)
        #expect(entries["USD"] == nil)
        for (code, exponent) in entries { #expect(Currency(code)?.exponent == exponent, "\(code)") }
    }

    @Test func actionsValidateTheirMoney() {
        func refusal(_ fields: [String: JSONValue]) -> [String] {
            do { _ = try ProposedAction(fields: fields, index: 2); return [] } catch let refusal as Refusal {
                return refusal.errors.map { "\($0.field): \($0.message)" }
            } catch { return ["\(error)"] }
        }
        #expect(refusal(["type": "credit_memo", "amount_minor": 0, "currency": "USD"]) == ["actions[2].amount_minor: must be a positive integer, got 0"])
        #expect(refusal(["type": "credit_memo", "amount_minor": 1.5, "currency": "USD"]).first?.contains("must be an integer number of minor units") == true)
        #expect(refusal(["type": "refund", "amount_minor": 1_000_000_000_000_000, "currency": "USD"]).first?.contains("must be at most 999999999999999") == true)
        #expect(refusal(["type": "refund", "amount_minor": 1, "currency": "usd"]) == ["actions[2].currency: must be an ISO 4217 currency code, got 'usd'"])
        #expect(refusal(["type": "entitlement_grant"]) == ["actions[2].feature: is required for entitlement_grant"])
        #expect(refusal(["type": "gift"]).first?.contains("unknown action type 'gift'") == true)
    }
}

/// Retries to the ERP: the backoff and how an answer is classed.
@Suite(.timeLimit(.minutes(1))) struct DeliveryRulesTests {
    @Test func backoffDoublesIsCappedAndJittersBetweenHalfAndAll() {
        let settings = DeliverySettings(baseDelay: .seconds(1), maxDelay: .seconds(60))
        #expect(settings.backoff(afterFailures: 1, random: 1) == .seconds(1))
        #expect(settings.backoff(afterFailures: 2, random: 1) == .seconds(2))
        #expect(settings.backoff(afterFailures: 4, random: 1) == .seconds(8))
        #expect(settings.backoff(afterFailures: 4, random: 0) == .seconds(4), "half at the least")
        #expect(settings.backoff(afterFailures: 10, random: 1) == .seconds(60), "capped")
        #expect(settings.backoff(afterFailures: 10_000, random: 1) == .seconds(60), "no overflow")
        #expect(settings.backoff(afterFailures: 0, random: 1) == .seconds(1))
    }

    @Test func answersAreDeliveredRetriedOrRejected() {
        #expect(AttemptResult.http(status: 201, reference: "CM-1", retryAfter: nil) == .delivered(reference: "CM-1"))
        #expect(AttemptResult.http(status: 409, reference: nil, retryAfter: nil) == .delivered(reference: nil), "the ERP has that key already")
        for status in [408, 429, 500, 503, 599] {
            #expect(AttemptResult.http(status: status, reference: nil, retryAfter: .seconds(3)) == .retry(after: .seconds(3)), "\(status)")
        }
        for status in [400, 401, 403, 404, 422, 301] {
            #expect(AttemptResult.http(status: status, reference: nil, retryAfter: nil) == .rejected, "\(status)")
        }
    }
}

/// Queue rules applied to a review decision.
@Suite(.timeLimit(.minutes(1))) struct QueueRulesTests {
    @Test func aQueueSetsTheSLAAndTwoApprovalsOverItsThreshold() throws {
        let settings = try ReviewSettings.parse(["default": ["sla_hours": 24],
                                                 "queues": ["credits": ["sla_hours": 8, "two_approvals_over_minor": 100_000]]])
        func review(_ minor: Int64, queue: String, sla: Int64? = nil) throws -> Decision {
            DecisionCombiner.combine([DecisionRulesTests.verdict("a", .review, queue: queue, actions: [try DecisionRulesTests.memo(minor)], sla: sla)],
                                     eventType: .creditRequested, accountCurrency: "USD", guardrails: Guardrails())
        }
        let small = settings.applying(to: try review(100_000, queue: "credits"))
        #expect(small.slaSeconds == 8 * 3600 && small.approvalsRequired == 1)
        let large = settings.applying(to: try review(100_001, queue: "credits"))
        #expect(large.approvalsRequired == 2)
        #expect(settings.applying(to: try review(5, queue: "other")).slaSeconds == 24 * 3600, "the default queue's SLA")
        #expect(settings.applying(to: try review(5, queue: "credits", sla: 600)).slaSeconds == 600, "the policy's own SLA stands")
    }

    @Test func aTypoInTheQueueConfigurationIsAnError() {
        #expect(throws: (any Error).self) { try ReviewSettings.parse(["queues": ["credits": ["sla_hour": 8]]]) }
        #expect(throws: (any Error).self) { try ReviewSettings.parse(["claim_minute": 30]) }
    }
}
