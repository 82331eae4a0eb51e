import ArbiterCore
import ArbiterPolicy
import Foundation
import Testing

/// Every function a policy can call, with hostile arguments: huge, negative, NaN and boundary
/// numbers, empty and long strings, and tables whose metamethods (__len, __index, __newindex,
/// __lt, __le, __concat, __eq, __call, __tostring) misbehave — each value in each argument
/// position of each function, the other arguments ordinary. Every call must end: with a
/// result, an error, or a limit, within the time limit plus a bounded overrun.
///
/// And the work a library function does is charged: with a budget far smaller than the work
/// and a time limit far larger, big work ends on the instruction budget, not on the clock.
@Suite(.timeLimit(.minutes(5))) struct AdversarialCorpusTests {
    /// Each exposed function with ordinary arguments, built fresh for each call (tables the
    /// function may change must be the policy's own).
    static let functions: [(name: String, defaults: String)] = [
        ("assert", "true, 'message'"), ("error", "'boom', 1"), ("getmetatable", "{}"), ("ipairs", "{1, 2}"),
        ("next", "{a = 1}, nil"), ("pairs", "{a = 1}"), ("pcall", "function() return 1 end"), ("rawequal", "{}, {}"),
        ("rawget", "{a = 1}, 'a'"), ("rawlen", "{1, 2}"), ("rawset", "{}, 'a', 1"), ("select", "2, 'a', 'b', 'c'"),
        ("setmetatable", "{}, {}"), ("tonumber", "'10', 16"), ("tostring", "12"), ("type", "1"),
        ("xpcall", "function() return 1 end, function(e) return e end"), ("log", "'a', 'b'"), ("money", "2500, 'USD'"),
        ("approve", "{reasons = {'x'}}"), ("review", "{queue = 'credits'}"), ("reject", "{reasons = 'x'}"),
        ("credit_memo", "{amount_minor = 1, currency = 'USD'}"), ("refund", "{amount_minor = 1, currency = 'USD'}"),
        ("account_suspension", "{}"), ("account_reinstatement", "{}"), ("entitlement_grant", "{feature = 'sso'}"),
        ("entitlement_revoke", "{feature = 'sso'}"),
        ("event", "{id = 'e1', type = 'credit.requested', payload = {}}"), ("account", "{id = 'acct_1', status = 'active'}"),
        ("ignore", "'not ours'"),
        ("string.byte", "'hello', 1, 3"), ("string.char", "104, 105"), ("string.find", "'hello world', 'o w', 1, false"),
        ("string.format", "'%5.2f %s %d %q', 1.5, 'x', 3, 'y'"), ("string.gmatch", "'a,b,c', '[^,]+', 1"),
        ("string.gsub", "'hello', 'l', 'L', 1"), ("string.len", "'hello'"), ("string.lower", "'HeLLo'"),
        ("string.match", "'key=value', '(%w+)=(%w+)', 1"), ("string.rep", "'ab', 3, ','"), ("string.reverse", "'abc'"),
        ("string.sub", "'hello', 2, 4"), ("string.upper", "'hello'"),
        ("table.concat", "{'a', 'b', 'c'}, ',', 1, 3"), ("table.insert", "{'a', 'b'}, 1, 'c'"),
        ("table.move", "{1, 2, 3}, 1, 3, 2, {}"), ("table.pack", "1, 2, 3"), ("table.remove", "{'a', 'b', 'c'}, 1"),
        ("table.sort", "{3, 1, 2}, function(a, b) return a < b end"), ("table.unpack", "{1, 2, 3}, 1, 3"),
        ("math.abs", "-1"), ("math.acos", "0.5"), ("math.asin", "0.5"), ("math.atan", "1, 2"), ("math.ceil", "1.5"),
        ("math.cos", "1"), ("math.deg", "1"), ("math.exp", "1"), ("math.floor", "1.5"), ("math.fmod", "7, 3"),
        ("math.log", "8, 2"), ("math.max", "1, 2, 3"), ("math.min", "1, 2, 3"), ("math.modf", "1.5"), ("math.rad", "1"),
        ("math.sin", "1"), ("math.sqrt", "4"), ("math.tan", "1"), ("math.tointeger", "3.0"), ("math.type", "1"),
        ("math.ult", "1, 2"),
        ("utf8.char", "72, 228, 8364"), ("utf8.codepoint", "'häl', 1, -1"), ("utf8.codes", "'häl'"),
        ("utf8.len", "'häl', 1, -1"), ("utf8.offset", "'häl', 2, 1"),
        ("coroutine.close", "coroutine.create(function() end)"), ("coroutine.create", "function() return 1 end"),
        ("coroutine.isyieldable", ""), ("coroutine.resume", "coroutine.create(function(a) return a end), 1"),
        ("coroutine.running", ""), ("coroutine.status", "coroutine.create(function() end)"),
        ("coroutine.wrap", "function() return 1 end"), ("coroutine.yield", "1"),
        // Iterators the functions above return, called the way a policy can call them directly.
        ("ITER.codes", "'häl', 0"), ("ITER.gmatch", ""), ("ITER.pairs", "{a = 1}, nil"), ("ITER.ipairs", "{1, 2}, 0"),
    ]

    /// Hostile values, each a Lua expression built fresh inside the evaluation.
    static let values: [(name: String, lua: String)] = [
        ("nil", "nil"), ("true", "true"), ("zero", "0"), ("minus one", "-1"), ("maxinteger", "math.maxinteger"),
        ("mininteger", "math.mininteger"), ("2^53", "2^53"), ("1e15", "1e15"), ("-1e15", "-1e15"), ("1e308", "1e308"),
        ("inf", "math.huge"), ("-inf", "-math.huge"), ("NaN", "0/0"), ("0.5", "0.5"), ("empty string", "''"),
        ("long string", "('ab'):rep(2^19 - 8)"), ("continuation bytes", "('\\x80'):rep(2^16)"),
        ("long set pattern", "'[' .. ('a'):rep(2^18) .. ']'"), ("format of many items", "('%s'):rep(4096)"),
        ("replacement of many captures", "('%0'):rep(2^14)"), ("backtracking pattern", "('.-'):rep(8) .. 'b'"),
        ("null", "null"), ("empty table", "{}"), ("array", "{1, 2, 3}"), ("library view", "string"), ("input view", "event.payload"),
        ("function", "function(...) return ... end"), ("looping function", "function() while true do end end"),
        ("erroring function", "function() error('boom') end"), ("coroutine", "coroutine.create(function() end)"),
        ("__len huge", "setmetatable({}, { __len = function() return math.maxinteger end, __index = {}, __newindex = {} })"),
        ("__len -1e15", "setmetatable({}, { __len = function() return -1e15 end, __index = {}, __newindex = {} })"),
        ("__len NaN", "setmetatable({}, { __len = function() return 0/0 end })"),
        ("__len growing", "(function() local n = 0 return setmetatable({}, { __len = function() n = n * 2 + 1e6 return n end, __index = function(t, i) return 'x' end, __newindex = function() end }) end)()"),
        ("__index returns its key", "setmetatable({}, { __index = function(t, k) return k end, __len = function() return 1e6 end })"),
        ("__index loops", "setmetatable({}, { __index = function() while true do end end, __len = function() return 10 end })"),
        ("__index errors", "setmetatable({}, { __index = function() error('boom') end })"),
        ("__index chain", "(function() local t = {} for i = 1, 50 do t = setmetatable({}, { __index = t }) end return t end)()"),
        ("__newindex", "setmetatable({}, { __newindex = function() end, __len = function() return 1e9 end, __index = {} })"),
        ("__lt and __le always true", "setmetatable({}, { __lt = function() return true end, __le = function() return true end })"),
        ("__concat", "setmetatable({}, { __concat = function(a, b) return ('x'):rep(2^20) end })"),
        ("__eq", "setmetatable({}, { __eq = function() return true end })"),
        ("__call", "setmetatable({}, { __call = function(self, ...) return ... end })"),
        ("__tostring not a string", "setmetatable({}, { __tostring = function() return {} end })"),
        ("__tostring loops", "setmetatable({}, { __tostring = function() while true do end end })"),
        ("__name", "setmetatable({}, { __name = 'Fake' })"),
    ]

    static let corpusPolicy = """
        local FUNCTIONS = {}
        for _, lib in ipairs({ "string", "table", "math", "utf8", "coroutine" }) do
          for name, f in pairs(_ENV[lib]) do FUNCTIONS[lib .. "." .. name] = f end
        end
        for _, name in ipairs({ "assert", "error", "getmetatable", "ipairs", "next", "pairs", "pcall", "rawequal",
            "rawget", "rawlen", "rawset", "select", "setmetatable", "tonumber", "tostring", "type", "xpcall", "log",
            "money", "approve", "review", "reject", "credit_memo", "refund", "account_suspension",
            "account_reinstatement", "entitlement_grant", "entitlement_revoke", "event", "account", "ignore" }) do
          FUNCTIONS[name] = _ENV[name]
        end
        return { name = "corpus", on = { "credit.requested" }, decide = function(event, ctx)
          local p = event.payload
          local iterators = {
            ["ITER.codes"] = function() return (utf8.codes("x")) end,
            ["ITER.gmatch"] = function() return ("a,b,c"):gmatch("[^,]*") end,
            ["ITER.pairs"] = function() return (pairs({})) end,
            ["ITER.ipairs"] = function() return (ipairs({})) end,
          }
          local f = FUNCTIONS[p.fn] or iterators[p.fn]()
          local defaults = table.pack(load_defaults())
          local args, n = {}, defaults.n
          for i = 1, n do args[i] = defaults[i] end
          local x = load_value()
          if p.position == 0 then args, n = { x, x, x }, 3
          else args[p.position] = x if p.position > n then n = p.position end end
          local ok = pcall(f, table.unpack(args, 1, n))
          return review{ queue = "corpus", reasons = { tostring(ok) } }
        end }
        """

    /// The corpus policy for one function and one value (their Lua spliced in).
    static func source(function: (name: String, defaults: String), value: String) -> String {
        corpusPolicy
            .replacingOccurrences(of: "load_defaults()", with: "(function() return \(function.defaults) end)()")
            .replacingOccurrences(of: "load_value()", with: "(function() return \(value) end)()")
    }

    static let limits = PolicyLimits(instructionBudget: 200_000, memoryBytes: 16 << 20, timeLimitMillis: 50)

    @Test(arguments: functions.map(\.name))
    func everyHostileCallEnds(_ name: String) throws {
        let function = try #require(Self.functions.first { $0.name == name })
        let positions = max(1, function.defaults.split(separator: ",").count + 1)
        var slowest: (elapsed: Double, value: String, position: Int) = (0, "", 0)
        for value in Self.values {
            let engine = try engine(["corpus.lua": Self.source(function: function, value: value.lua)], limits: Self.limits)
            for position in 0...positions {
                let event = try creditEvent(extra: ["fn": .string(name), "position": .int(Int64(position))])
                let started = Date()
                guard let decision = try withWatchdog(seconds: 10, {
                    engine.decide(event, context: activeStandard(), guardrails: Guardrails())
                }) else {
                    Issue.record("\(name) with \(value.name) at argument \(position) did not end within 10 s")
                    return
                }
                let elapsed = Date().timeIntervalSince(started)
                if elapsed > slowest.elapsed { slowest = (elapsed, value.name, position) }
                // Errors of the corpus itself (not the call's) would hide the call: only limits may end it.
                if let error = decision.policies.first?.error {
                    #expect(["exceeded", "stack overflow", "C stack overflow"].contains { error.contains($0) },
                            "\(name) with \(value.name) at argument \(position): \(error)")
                }
                #expect(decision.outcome != .approve)
            }
        }
        print("corpus \(name): slowest \(Int(slowest.elapsed * 1000)) ms (\(slowest.value), argument \(slowest.position))")
    }

    @Test func theCorpusCoversEveryExposedFunction() throws {
        let engine = try engine(["list.lua": policy("""
            local names = {}
            for name, v in pairs(_G) do
              if type(v) == "function" then names[#names + 1] = name
              elseif type(v) == "table" and name ~= "_G" then
                for k, f in pairs(v) do if type(f) == "function" then names[#names + 1] = name .. "." .. k end end
              end
            end
            table.sort(names)
            local reasons = {}
            for i = 1, #names, 8 do reasons[#reasons + 1] = table.concat(names, " ", i, math.min(i + 7, #names)) end
            return review{ queue = "list", reasons = reasons }
            """, name: "list")], limits: PolicyLimits(instructionBudget: 10_000_000))
        let decision = engine.decide(try creditEvent(), context: activeStandard(), guardrails: Guardrails())
        let covered = Set(Self.functions.map(\.name))
        let reasons: [String] = decision.policies.first?.reasons ?? []
        let exposed: [String] = reasons.flatMap { line in line.split(separator: " ").map { String($0) } }
        #expect(exposed.count > 60, "\(decision.policies)")
        for name in exposed { #expect(covered.contains(name), "\(name) is exposed but not in the corpus") }
    }

    struct Work: CustomTestStringConvertible, Sendable {
        let name: String
        let lua: String
        /// The error it must end with; nil: it must simply return (it did not, before).
        var error: String? = "instruction budget exceeded (300000 instructions)"
        var testDescription: String { name }
    }

    /// Work far over a 300,000-unit budget, done inside library functions (or their
    /// metamethods). Uncharged, each would finish quickly and approve, or run into the 5 s
    /// time limit instead (or, for some, never end).
    static let bigWork: [Work] = [
        Work(name: "table.unpack of 900,000 nils", lua: "local _ = select('#', table.unpack({}, 1, 900000))"),
        Work(name: "table.move of a billion elements", lua: "table.move({}, 1, 1e9, 2)"),
        Work(name: "table.insert into a table whose __len is huge",
             lua: "table.insert(setmetatable({}, { __len = function() return 1e15 end, __index = {}, __newindex = {} }), 1, 'x')"),
        Work(name: "table.remove from a table whose __len is huge",
             lua: "table.remove(setmetatable({}, { __len = function() return 1e15 end, __index = {}, __newindex = {} }), 1)"),
        Work(name: "table.concat over a __len that grows",
             lua: "local n = 0 table.concat(setmetatable({}, { __len = function() n = n + 1e6 return n end, __index = function() return '' end }))"),
        Work(name: "table.sort of 30,000 numbers", lua: "local t = {} for i = 1, 30000 do t[i] = (i * 7919) % 30011 end table.sort(t)"),
        Work(name: "string.rep of the empty string", lua: "local _ = string.rep('', 1e15)", error: nil),
        Work(name: "string.rep of the empty string with an empty separator", lua: "local _ = ('').rep('', math.maxinteger, '')", error: nil),
        Work(name: "string.rep to a megabyte, many times", lua: "for i = 1, 100 do local _ = ('x'):rep(2^20 - i) end"),
        Work(name: "utf8.codes' iterator over continuation bytes",
             lua: "local s = ('\\x80'):rep(2^20 - 1) local f = utf8.codes(s) for i = 0, 200 do pcall(f, s, i) end"),
        Work(name: "a long character class", lua: "local _ = string.find(('b'):rep(1000), '[' .. ('a'):rep(2^19) .. ']')"),
        Work(name: "a long frontier set", lua: "local _ = string.find(('b'):rep(1000), '%f[' .. ('a'):rep(2^19) .. ']')"),
        Work(name: "gsub copying a capture many times",
             lua: "local s, r = ('x'):rep(1000), ('%1'):rep(1000) for i = 1, 10 do local _ = s:gsub('(.+)', r) end"),
        Work(name: "string.byte of a long string", lua: "local s = ('x'):rep(900000) local _ = select('#', s:byte(1, -1))"),
        Work(name: "string.format of long strings", lua: "local s = ('x'):rep(2^19) for i = 1, 50 do local _ = string.format('%s', s) end"),
        Work(name: "tostring and tonumber of long strings", lua: "local s = ('9'):rep(2^19) for i = 1, 50 do local _ = tonumber(s) end"),
        Work(name: "upper of a long string", lua: "local s = ('x'):rep(2^20 - 1) for i = 1, 20 do s = s:upper():lower() end"),
        Work(name: "utf8.len of a long string", lua: "local s = ('x'):rep(2^20 - 1) for i = 1, 20 do local _ = utf8.len(s) end"),
        Work(name: "log of long strings", lua: "local s = ('x'):rep(2^20 - 1) for i = 1, 20 do log(s) end"),
    ]

    @Test(arguments: bigWork)
    func libraryWorkIsCharged(_ work: Work) throws {
        let limits = PolicyLimits(instructionBudget: 300_000, memoryBytes: 64 << 20, timeLimitMillis: 5_000)
        let engine = try engine(["probe.lua": policy(work.lua + "\nreturn approve{}")], limits: limits)
        guard let decision = try withWatchdog(seconds: 20, {
            engine.decide(try creditEvent(), context: activeStandard(), guardrails: Guardrails())
        }) else {
            Issue.record("\(work.name) did not end within 20 s")
            return
        }
        if let expected = work.error {
            let error = decision.policies.first?.error ?? "no error: the work was not charged"
            #expect(error.contains(expected), "\(error)")
        } else {
            #expect(decision.policies.first?.error == nil, "\(decision.policies)")
        }
    }
}

/// Runs `body` on a thread of its own and waits at most `seconds` for it. Nil when it did not
/// return in time (the thread is left running: the test has failed anyway).
func withWatchdog<T: Sendable>(seconds: Double, _ body: @escaping @Sendable () throws -> T) throws -> T? {
    let done = DispatchSemaphore(value: 0)
    let result = Locked<Result<T, any Error>?>(nil)
    let thread = Thread {
        let outcome = Result { try body() }
        result.withLock { $0 = outcome }
        done.signal()
    }
    thread.stackSize = 8 << 20
    thread.start()
    guard done.wait(timeout: .now() + seconds) == .success else { return nil }
    return try result.withLock { $0 }?.get()
}
