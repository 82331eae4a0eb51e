import ArbiterCore
import ArbiterPolicy
import Foundation

/// `arbiter-bench limits [--time-limit-ms 50]`: how far past its time limit an evaluation can
/// run. Each case is a policy built to spend its time where the clock is read least often —
/// one expensive VM instruction after another (comparing, hashing, copying the longest strings
/// allowed), the garbage collector over a full heap, C functions doing bulk work — evaluated
/// with an instruction budget too large to matter, so only the time limit stops it. Prints
/// each case's time and, last, `limits time_limit_ms=<int> max_elapsed_ms=<float> max_overrun_ms=<float>`.
enum LimitsBench {
    static let cases: [(name: String, lua: String)] = [
        ("empty loop", "while true do end"),
        ("comparing 1 MiB strings", "local a, b = ('x'):rep(2^20 - 1), ('x'):rep(2^20 - 2) .. 'y' while true do local _ = a < b end"),
        ("equal 1 MiB strings", "local a, b = ('x'):rep(2^20 - 1), ('x'):rep(2^20 - 2) .. 'x' while true do local _ = a == b end"),
        ("hashing new 1 MiB strings", "local s = ('x'):rep(2^20 - 16) local t = {} local i = 0 while true do i = i + 1 t[s .. i] = true t = {} end"),
        ("concatenating to 1 MiB", "local s = ('x'):rep(2^19) while true do local _ = s .. s:sub(2) end"),
        ("table bomb", "local t = {} local i = 0 while true do i = i + 1 t[i] = { i } end"),
        ("garbage over a full heap", "local keep = {} for i = 1, 150000 do keep[i] = { i } end while true do local _ = { 1, 2, 3 } end"),
        ("backtracking pattern", "while true do local _ = (('a'):rep(1e5)):find('.-.-.-b') end"),
        ("sorting with a Lua comparator", "local t = {} for i = 1, 1e5 do t[i] = -i end while true do table.sort(t, function(a, b) return a < b end) end"),
        ("upper of 1 MiB", "local s = ('x'):rep(2^20 - 1) while true do s = s:upper() end"),
        ("table.concat of a long list", "local t = {} for i = 1, 1e5 do t[i] = 'abcdefgh' end while true do local _ = table.concat(t) end"),
        ("gsub with a Lua function", "local s = ('ab'):rep(2^18) while true do s:gsub('a', function(x) return x end) end"),
    ]

    static func run(timeLimitMillis: Int64) throws {
        let limits = PolicyLimits(instructionBudget: Int64.max / 2, memoryBytes: 16 << 20, timeLimitMillis: timeLimitMillis)
        var worst = 0.0
        for (name, lua) in cases {
            let source = """
                return { name = "limits", on = { "credit.requested" }, decide = function(event, ctx)
                  \(lua)
                end }
                """
            let engine = PolicyEngine(limits: limits, warmStates: 1)
            engine.activate(try engine.compile([PolicySource(file: "limits.lua", source: source)]))
            let event = try Event(envelope: .object([
                "id": "evt_1", "type": "credit.requested", "source": "bench", "occurred_at": "2026-11-22T10:00:00Z",
                "account_id": "acct_1", "correlation_id": "case_1",
                "payload": .object(["amount_minor": 100, "currency": "USD", "reason": "limits"]),
            ]))
            let context = PolicyContext(account: AccountSnapshot(id: "acct_1", status: .active, tier: "standard", currency: "USD"), now: 0)
            var slowest = 0.0
            var error = ""
            for _ in 0..<5 {
                let started = DispatchTime.now().uptimeNanoseconds
                let results = engine.evaluate(event, context: context)
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
                slowest = max(slowest, elapsed)
                error = results.first?.error ?? "no error"
            }
            worst = max(worst, slowest)
            print(name.padding(toLength: 32, withPad: " ", startingAt: 0) + String(format: "%7.1f ms  ", slowest) + error.prefix(70))
        }
        print(String(format: "limits time_limit_ms=%d max_elapsed_ms=%.1f max_overrun_ms=%.1f", timeLimitMillis, worst,
                     max(0, worst - Double(timeLimitMillis))))
    }
}
