import ArbiterCore
import ArbiterPolicy
import Foundation
import Testing

/// Backtests feed Lua the stored JSON text of an event and of its recorded context directly
/// (JSONTranscoder), not the typed values the live path encodes. A policy must not be able to
/// tell the two apart: otherwise a backtest would not replay what was decided.
@Suite(.timeLimit(.minutes(5))) struct StoredInputTests {
    /// Reports everything it can see, with Lua types, as its reasons.
    static let probe = policy("""
        local p, a, h = event.payload, ctx.account, ctx.history
        local function show(v)
          if v == null then return "null" end
          if type(v) == "number" then return math.type(v) .. ":" .. tostring(v) end
          return type(v) .. ":" .. tostring(v)
        end
        local seen = {
          show(event.id), show(event.type), show(event.source), show(event.occurred_at), show(event.account_id),
          show(event.correlation_id), show(p.amount_minor), show(p.currency), show(p.reason), show(p.ratio), show(p.note),
          show(p.flag), show(p.nested and p.nested.deep), show(p.list and #p.list), show(p.list and p.list[2]),
          show(a.id), show(a.status), show(a.tier), show(a.currency), show(a.mrr_minor), show(a.open_balance_minor),
          show(a.days_past_due), show(#a.entitlements), show(a.entitlements[1]), show(h.credits_30d_minor),
          show(h.credits_90d_minor), show(h.credits_365d_minor), show(h.credit_count_90d), show(h.refunds_90d_minor),
          show(h.open_disputes), show(h.failed_payments_30d), show(ctx.now), show(ctx.config.region),
        }
        return review{ reasons = { table.concat(seen, " | ") } }
        """)

    static func cases() throws -> [(Event, PolicyContext)] {
        var history = HistoryAggregates()
        history.credits90dMinor = 12_345
        history.openDisputes = 2
        let full = PolicyContext(account: AccountSnapshot(id: "acct_9", status: .pastDue, tier: "premium", mrrMinor: 99_000, currency: "EUR",
                                                          openBalanceMinor: 4_200, daysPastDue: 12, entitlements: ["api", "sso"]),
                                 history: history, now: 1_763_800_000)
        let bare = PolicyContext(account: AccountSnapshot.unknown("acct_new"), now: 1_763_800_001)
        let escaped = try creditEvent(amount: 1, reason: "quote \" backslash \\ tab \t é ✓ \u{1F600}", extra: [
            "ratio": .double(0.25), "note": .null, "flag": .bool(true), "nested": ["deep": "x"], "list": [1, "two", 3.5],
        ])
        return [(try creditEvent(), activeStandard()), (escaped, full), (try creditEvent(amount: 999_999_999_999), bare)]
    }

    @Test func aStoredEventAndContextReadExactlyAsTheLiveOnes() throws {
        let engine = try engine(["probe.lua": Self.probe])
        let evaluator = try #require(engine.evaluator(for: engine.activeSet))
        for (event, context) in try Self.cases() {
            let live = engine.evaluate(event, context: context)
            let stored = try evaluator.evaluate(storedEvent: CanonicalJSON.string(event.envelope), type: event.type.rawValue,
                                                recordedContext: CanonicalJSON.string(context.json))
            #expect(live.first?.error == nil, "\(live)")
            #expect(stored.results.map(\.reasons) == live.map(\.reasons))
            #expect(stored.accountCurrency == context.account.currency)
        }
    }

    @Test func malformedStoredTextIsAnErrorNotAVerdict() throws {
        let engine = try engine(["probe.lua": Self.probe])
        let evaluator = try #require(engine.evaluator(for: engine.activeSet))
        #expect(throws: (any Error).self) {
            _ = try evaluator.evaluate(storedEvent: "{\"id\": ", type: "credit.requested", recordedContext: "{}")
        }
        #expect(throws: (any Error).self) {
            _ = try evaluator.evaluate(storedEvent: "{}", type: "credit.requested", recordedContext: "{\"account\": tru}")
        }
    }
}
