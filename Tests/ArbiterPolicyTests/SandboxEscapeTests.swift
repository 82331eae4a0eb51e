import ArbiterCore
import ArbiterPolicy
import Foundation
import Testing

/// The sandbox-escape corpus. Every attack runs inside decide() of a policy that otherwise
/// approves small credits. Each must end in bounded time with a clean error — the service's
/// decision is then review in `policy-errors`, never approve — and the same engine must then
/// decide an ordinary event correctly.
@Suite(.timeLimit(.minutes(5))) struct SandboxEscapeTests {
    struct Attack: CustomTestStringConvertible, Sendable {
        let name: String
        let lua: String
        /// Text the error must contain (alternatives separated by "|").
        let error: String
        var testDescription: String { name }
    }

    /// CPU-bound attacks end on the instruction budget, or on the 50 ms bound first when the
    /// machine is loaded (tests run in parallel): either is a clean, bounded end.
    static let limit = "instruction budget exceeded|time limit exceeded"

    static let attacks: [Attack] = [
        // Absent libraries and functions.
        Attack(name: "io is absent", lua: "return io.open('/etc/passwd')", error: "global 'io'"),
        Attack(name: "os is absent", lua: "os.exit(1)", error: "global 'os'"),
        Attack(name: "package is absent", lua: "return package.loaded", error: "global 'package'"),
        Attack(name: "require is absent", lua: "require('io')", error: "global 'require'"),
        Attack(name: "load is absent", lua: "load('return 1')()", error: "global 'load'"),
        Attack(name: "loadstring is absent", lua: "loadstring('return 1')()", error: "global 'loadstring'"),
        Attack(name: "loadfile is absent", lua: "loadfile('/etc/passwd')()", error: "global 'loadfile'"),
        Attack(name: "dofile is absent", lua: "dofile('/etc/passwd')", error: "global 'dofile'"),
        Attack(name: "debug is absent", lua: "return debug.getregistry()", error: "global 'debug'"),
        Attack(name: "string.dump is absent", lua: "return string.dump(function() end)", error: "field 'dump'"),
        Attack(name: "collectgarbage is absent", lua: "collectgarbage('stop')", error: "global 'collectgarbage'"),
        Attack(name: "print is absent", lua: "print('x')", error: "global 'print'"),
        Attack(name: "math.random is absent", lua: "return math.random()", error: "field 'random'"),
        Attack(name: "math.randomseed is absent", lua: "math.randomseed(1)", error: "field 'randomseed'"),
        Attack(name: "string methods cannot reach dump", lua: "return (''):dump()", error: "method 'dump'"),
        // Writes to shared tables.
        Attack(name: "writing to _G", lua: "_G.approve = function() end", error: "read-only"),
        Attack(name: "writing to string", lua: "string.upper = nil", error: "read-only"),
        Attack(name: "replacing _ENV cannot reach the shared globals", lua: "_ENV = setmetatable({}, { __index = _G }) _G.approve = nil", error: "read-only"),
        Attack(name: "writing through _G's metatable", lua: "getmetatable(_G).__newindex = nil", error: "index a boolean"),
        Attack(name: "rawset on string", lua: "rawset(string, 'x', 1)", error: "read-only"),
        Attack(name: "writing to math", lua: "math.pi = 3", error: "read-only"),
        Attack(name: "writing to ctx.config", lua: "ctx.config.region = 'us'", error: "read-only"),
        Attack(name: "setmetatable on a shared table", lua: "setmetatable(string, {})", error: "protected metatable"),
        Attack(name: "string metatable is hidden", lua: "getmetatable('').__index = {}", error: "index a boolean"),
        Attack(name: "getmetatable of a shared table is hidden", lua: "getmetatable(string).__index.upper = nil", error: "index a boolean"),
        Attack(name: "pairs cannot leak the data behind a shared table", lua: "local f, s = pairs(string) s.upper = nil", error: "index a nil"),
        // Bytecode and finalizers.
        Attack(name: "__gc finalizer that loops", lua: "setmetatable({}, { __gc = function() while true do end end })", error: "__gc finalizers are not allowed"),
        // Budget.
        Attack(name: "infinite loop", lua: "while true do end", error: limit),
        Attack(name: "infinite loop inside pcall", lua: "pcall(function() while true do end end) return approve{}", error: limit),
        Attack(name: "pcall in a loop cannot swallow the budget", lua: "while true do pcall(function() while true do end end) end", error: "exceeded"),
        Attack(name: "infinite loop inside xpcall with a looping handler",
               lua: "xpcall(function() while true do end end, function() while true do end end) return approve{}", error: limit),
        Attack(name: "infinite loop inside a coroutine",
               lua: "local co = coroutine.create(function() while true do end end) coroutine.resume(co) return approve{}", error: limit),
        Attack(name: "infinite loop inside coroutine.wrap",
               lua: "pcall(coroutine.wrap(function() while true do end end)) return approve{}", error: limit),
        Attack(name: "looping __close in a coroutine closed after a budget error",
               lua: """
               local co = coroutine.create(function()
                 local x <close> = setmetatable({}, { __close = function() while true do end end })
                 while true do end
               end)
               local guard <close> = setmetatable({}, { __close = function() coroutine.close(co) end })
               coroutine.resume(co)
               """, error: limit),
        Attack(name: "unbounded recursion", lua: "local function f(n) return f(n + 1) + 1 end return f(1)", error: "exceeded|stack overflow"),
        Attack(name: "recursion through metamethods", lua: "local t = setmetatable({}, { __index = function(t, k) return t[k] end }) return t.x", error: "stack overflow"),
        // Memory.
        Attack(name: "memory bomb: table growth", lua: "local t = {} for i = 1, 1e9 do t[i] = { i } end", error: "exceeded"),
        Attack(name: "memory bomb: string doubling", lua: "local s = 'x' while true do s = s .. s end", error: "string length limit exceeded (1048576 bytes)"),
        Attack(name: "memory bomb: many long strings", lua: "local t, s = {}, ('x'):rep(1e6) for i = 1, 100 do t[i] = s .. i end", error: "memory limit exceeded"),
        Attack(name: "string.rep with a huge count", lua: "return string.rep('x', 1e10)", error: "string length limit exceeded"),
        Attack(name: "string.rep just over the string length limit", lua: "return string.rep('abcd', 262145)", error: "string length limit exceeded"),
        Attack(name: "memory error inside pcall is not swallowed", lua: "pcall(string.rep, 'x', 2e9) return approve{}", error: "string length limit exceeded"),
        Attack(name: "string length error inside pcall is not swallowed", lua: "local s = ('x'):rep(2^19) pcall(function() return s .. s .. s end) return approve{}", error: "string length limit exceeded"),
        // Pathological patterns and big strings in C functions.
        Attack(name: "pathological pattern .-.-.-b", lua: "return string.find(('a'):rep(5000), '.-.-.-b')", error: limit),
        Attack(name: "pathological pattern in gsub", lua: "return (('a'):rep(5000)):gsub('.-.-.-b', 'x')", error: limit),
        Attack(name: "pathological pattern in gmatch", lua: "for m in (('a'):rep(5000)):gmatch('(.-)(.-)(.-)b') do end", error: limit),
        Attack(name: "pathological pattern in match", lua: "return (('a'):rep(3000)):match('(a*)*b')", error: "exceeded"),
        Attack(name: "long scans of a big string in a loop", lua: "local s = ('x'):rep(1e6) while true do local _ = utf8.len(s) end", error: "exceeded"),
        Attack(name: "repeated upper() of a big string", lua: "local s = ('x'):rep(4e6) while true do s:upper() end", error: "exceeded"),
    ]

    static let benign = policy("""
        if event.payload.reason == "attack" then
          ATTACK
        end
        return approve{ reasons = { "ok" }, actions = { credit_memo{ amount_minor = event.payload.amount_minor, currency = "USD" } } }
        """)

    @Test(arguments: attacks)
    func attackEndsCleanlyAndThePoolRecovers(_ attack: Attack) throws {
        let engine = try engine(["probe.lua": Self.benign.replacingOccurrences(of: "ATTACK", with: attack.lua)])
        let started = Date()
        let decision = engine.decide(try creditEvent(reason: "attack"), context: activeStandard(), guardrails: Guardrails())
        let elapsed = Date().timeIntervalSince(started)

        // A liveness bound, not a benchmark: without the guards these run for minutes or forever.
        #expect(elapsed < 5, "took \(elapsed) s")
        #expect(decision.outcome == .review)
        #expect(decision.queue == Queue.policyErrors)
        let error = try #require(decision.policies.first?.error)
        #expect(attack.error.split(separator: "|").contains { error.contains($0) }, "error was: \(error)")
        #expect(error.hasPrefix("probe.lua"), "error was: \(error)")
        #expect(decision.actions.isEmpty)

        // The same engine decides the next ordinary event correctly.
        let next = engine.decide(try creditEvent(amount: 1234), context: activeStandard(), guardrails: Guardrails())
        #expect(next.outcome == .approve)
        #expect(next.actions.first?.money?.amountMinor == 1234)
    }

    @Test func precompiledBytecodeIsRefused() throws {
        let engine = PolicyEngine()
        let bytecode = "\u{1B}Lua\u{54}\u{00}\u{19}\u{93}\r\n\u{1A}\n"
        #expect(throws: PolicyLoadError.self) { try engine.compile([PolicySource(file: "bin.lua", source: bytecode)]) }
        do {
            _ = try engine.compile([PolicySource(file: "bin.lua", source: bytecode)])
        } catch {
            #expect("\(error)".contains("binary chunk"), "\(error)")
        }
    }

    @Test func timeLimitCoversWorkInsideCFunctions() throws {
        // A tiny instruction budget is not what stops this: sorting a big table runs in C.
        let limits = PolicyLimits(instructionBudget: 1_000_000_000, memoryBytes: 64 << 20, timeLimitMillis: 50)
        let engine = try engine(["probe.lua": policy("""
            local s = ('x'):rep(1e6)
            while true do local _ = utf8.len(s) end
            """)], limits: limits)
        let started = Date()
        let decision = engine.decide(try creditEvent(), context: activeStandard(), guardrails: Guardrails())
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(decision.policies.first?.error?.contains("time limit exceeded (50 ms)") == true, "\(decision.policies)")
    }

    @Test func noStateIsCarriedBetweenEvaluations() throws {
        let engine = try engine(["probe.lua": """
            local calls = 0
            local last
            local function bump() calls = calls + 1 return calls end
            helper_calls = 0
            return {
              name = "probe", on = { "credit.requested" },
              decide = function(event, ctx)
                local n = bump()
                local previous = last
                last = event.id
                counter = (counter or 0) + 1
                helper_calls = helper_calls + 1
                return approve{ reasons = { tostring(n), tostring(previous), tostring(counter), tostring(helper_calls) } }
              end,
            }
            """])
        for _ in 0..<5 {
            let decision = engine.decide(try creditEvent(), context: activeStandard(), guardrails: Guardrails())
            #expect(decision.reasons == ["1", "nil", "1", "1"])
        }
    }

    @Test func tablesBuiltAtLoadAreReadOnlyDuringEvaluations() throws {
        let engine = try engine(["probe.lua": """
            local LIMITS = { standard = 5000, tiers = { "standard", "premium" } }
            local seen = {}
            return {
              name = "probe", on = { "credit.requested" },
              decide = function(event, ctx)
                -- Reading shared tables works as for plain tables.
                local names = {}
                for k in pairs(LIMITS) do names[#names + 1] = k end
                table.sort(names)
                assert(table.concat(names, ",") == "standard,tiers", table.concat(names, ","))
                assert(#LIMITS.tiers == 2 and LIMITS.tiers[2] == "premium" and next(LIMITS) ~= nil)
                assert(rawget(LIMITS, "standard") == 5000 and rawlen(LIMITS.tiers) == 2)
                assert(select(2, ipairs(LIMITS.tiers)) ~= nil)
                if event.payload.reason == "remember" then seen[#seen + 1] = event.id end
                return approve{ reasons = { tostring(#seen) } }
              end,
            }
            """])
        #expect(engine.decide(try creditEvent(), context: activeStandard(), guardrails: Guardrails()).reasons == ["0"])
        let decision = engine.decide(try creditEvent(reason: "remember"), context: activeStandard(), guardrails: Guardrails())
        #expect(decision.queue == Queue.policyErrors)
        #expect(decision.reasons.first?.contains("probe.lua:14: attempt to change a table built when the policy loaded (field [1]): such tables are read-only, so that no state is kept between evaluations") == true, "\(decision.reasons)")
        #expect(engine.decide(try creditEvent(), context: activeStandard(), guardrails: Guardrails()).reasons == ["0"])
    }

    @Test func stateCannotHideInTheKeysOfLoadTimeTables() throws {
        let engine = try engine(["probe.lua": """
            local n = 0
            local BUMP = { [function() n = n + 1 return n end] = true }
            return { name = "probe", on = { "credit.requested" }, decide = function(event, ctx)
              local last
              for f in pairs(BUMP) do last = f() end
              return approve{ reasons = { tostring(last) } }
            end }
            """])
        for _ in 0..<3 {
            #expect(engine.decide(try creditEvent(), context: activeStandard(), guardrails: Guardrails()).reasons == ["1"])
        }
        do {
            _ = try engine.compile([PolicySource(file: "keys.lua", source: """
                local T = { [{}] = true }
                return { name = "keys", on = { "credit.requested" }, decide = function()
                  for k in pairs(T) do k.seen = (k.seen or 0) + 1 end
                  return approve{}
                end }
                """)])
            Issue.record("a table key was accepted")
        } catch {
            #expect("\(error)".contains("keys.lua: a table built at load time cannot use a table as a key"), "\(error)")
        }
    }

    @Test func coroutinesCannotBeKeptBetweenEvaluations() throws {
        let engine = PolicyEngine()
        do {
            _ = try engine.compile([PolicySource(file: "co.lua", source: """
                local gen = coroutine.wrap(function() local i = 0 while true do i = i + 1 coroutine.yield(i) end end)
                local co = coroutine.create(function() end)
                return { name = "co", on = { "credit.requested" }, decide = function() coroutine.resume(co) return approve{} end }
                """)])
            Issue.record("a chunk-level coroutine was accepted")
        } catch {
            #expect("\(error)".contains("cannot keep a coroutine between evaluations"), "\(error)")
        }
    }

    @Test func inputTablesReadAsPlainTables() throws {
        let engine = try engine(["probe.lua": policy("""
            local keys = {}
            for k, v in pairs(event.payload) do keys[#keys + 1] = k .. "=" .. (type(v) == "table" and "table" or tostring(v)) end
            table.sort(keys)
            assert(table.concat(keys, ";") == "amount_minor=2500;currency=USD;reason=outage;tags=table", table.concat(keys, ";"))
            assert(next(ctx.history) ~= nil and rawget(ctx.account, "tier") == "standard")
            assert(event.payload.missing == nil and event.missing == nil and event.payload[1] == nil)
            assert(type(event) == "table" and type(ctx.account) == "table")
            assert(#event.payload.tags == 2 and event.payload.tags[2].name == "b")
            assert(event.payload == event.payload and event.payload.tags == event.payload.tags, "one view per table")
            assert(ctx.history.credits_90d_minor == 0 and rawequal(ctx.history, ctx.history))
            local n = 0 for _ in pairs(ctx.config) do n = n + 1 end
            assert(n == 2 and ctx.config.limits.max == 5)
            return approve{}
            """)])
        let decision = engine.decide(try creditEvent(extra: ["tags": [["name": "a"], ["name": "b"]]]), context: activeStandard(), guardrails: Guardrails())
        #expect(decision.policies.first?.error == nil, "\(decision.policies.first?.error ?? "")")
    }
}
