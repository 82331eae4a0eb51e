import ArbiterCore
import ArbiterPolicy
import Foundation
import Testing

/// Policies are pure: nothing carries from one evaluation to the next, and `event`, `ctx` and
/// the helpers are read-only — a write raises an error naming what was written.
@Suite(.timeLimit(.minutes(5))) struct PurityTests {
    /// A policy that tries every way we know to count its own calls, each inside pcall (a path
    /// the sandbox refuses simply does not count). It reports the highest count any path saw.
    static let counter = #"""
        local upvalue = 0
        local box = { n = 0 }
        local nested = { inner = { n = 0 } }
        local remembered
        local APPROVE = approve   -- so that a path rebinding the global cannot hide the others
        -- A "class" whose __index handler writes into the table it is given.
        local Memo = setmetatable({}, { __index = function(t, k)
          local n = (rawget(t, "seen") or 0) + 1
          rawset(t, "seen", n)
          return n
        end })
        -- A table whose __newindex handler writes into another load-time table.
        local store = { n = 0 }
        local Sink = setmetatable({}, { __newindex = function(t, k, v) store[k] = v end })
        -- A closure over a load-time table, and one over a local it rebinds.
        local function bump_box() box.n = box.n + 1 return box.n end
        local function bump_upvalue() upvalue = upvalue + 1 return upvalue end
        global_count = 0

        return {
          name = "counter", on = { "credit.requested" },
          decide = function(event, ctx)
            local counts = {}
            local function try(name, f)
              local ok, n = pcall(f)
              if ok and type(n) == "number" then counts[#counts + 1] = { name = name, n = n } end
            end
            try("upvalue", bump_upvalue)
            try("global", function() global_count = global_count + 1 return global_count end)
            try("fresh global", function() fresh = (fresh or 0) + 1 return fresh end)
            try("_ENV", function() _ENV.env_count = (rawget(_ENV, "env_count") or 0) + 1 return _ENV.env_count end)
            try("load-time table", bump_box)
            try("nested load-time table", function() nested.inner.n = nested.inner.n + 1 return nested.inner.n end)
            try("rawset on a load-time table", function() rawset(box, "n", box.n + 1) return box.n end)
            try("__index handler", function() return Memo.anything end)
            try("__newindex handler", function() Sink.n = store.n + 1 return store.n end)
            try("remembered table", function()
              if remembered then remembered.n = remembered.n + 1 return remembered.n end
              remembered = { n = 1 }
              return 1
            end)
            try("_G", function() _G.g = (_G.g or 0) + 1 return _G.g end)
            try("rawset _G", function() rawset(_G, "g", (rawget(_G, "g") or 0) + 1) return rawget(_G, "g") end)
            try("string table", function() string.n = (string.n or 0) + 1 return string.n end)
            try("string metatable", function() local mt = getmetatable("") mt.n = (mt.n or 0) + 1 return mt.n end)
            try("string method table", function() local s = ("").n return s end)
            try("math", function() rawset(math, "n", (math.n or 0) + 1) return math.n end)
            try("ctx.config", function() ctx.config.n = (ctx.config.n or 0) + 1 return ctx.config.n end)
            try("ctx", function() ctx.n = (ctx.n or 0) + 1 return ctx.n end)
            try("event", function() event.n = (event.n or 0) + 1 return event.n end)
            try("helper", function() approve.n = 1 return 2 end)
            try("helper global", function() approve = function() end return 2 end)
            try("pairs over a view", function()
              local f, data = pairs(box)
              if type(data) == "table" then data.n = (data.n or 0) + 1 return data.n end
            end)
            try("next over a view", function()
              local k, v = next(nested)
              if type(v) == "table" then v.n = v.n + 1 return v.n end
            end)
            try("setmetatable on a load-time table", function()
              setmetatable(box, { __index = function() return 99 end }) return box.zzz
            end)
            try("table.insert into a load-time table", function() table.insert(nested, 1) return #nested end)
            try("an address", function() return #tostring({}) > 5 and 99 or 0 end)
            try("string.format %p", function() return string.format("%p", {}) and 99 end)
            local highest, over = 0, {}
            for _, c in ipairs(counts) do
              if c.n > highest then highest = c.n end
              if c.n > 1 then over[#over + 1] = c.name end
            end
            return APPROVE{ reasons = { tostring(highest), table.concat(over, ", ") } }
          end,
        }
        """#

    @Test func aPolicyNeverCountsItsOwnCalls() throws {
        let counting = try engine(["counter.lua": Self.counter])
        for _ in 0..<5 {
            let decision = counting.decide(try creditEvent(), context: activeStandard(), guardrails: Guardrails())
            #expect(decision.policies.first?.error == nil, "\(decision.policies)")
            #expect(decision.reasons == ["1", ""], "paths that counted above 1: \(decision.reasons)")
        }
        // The same on a state another policy has just used (pooled states run any policy).
        let other = try engine(["counter.lua": Self.counter, "other.lua": policy("return approve{}", name: "other")])
        for _ in 0..<3 {
            #expect(other.decide(try creditEvent(), context: activeStandard(), guardrails: Guardrails()).reasons == ["1", ""])
        }
    }

    @Test func anIteratorCannotBeKeptBetweenEvaluations() throws {
        do {
            _ = try PolicyEngine().compile([PolicySource(file: "iter.lua", source: """
                local next_word = ("a b c d e"):gmatch("%a")
                return { name = "iter", on = { "credit.requested" }, decide = function()
                  return approve{ reasons = { next_word() } }
                end }
                """)])
            Issue.record("a chunk-level gmatch iterator was accepted")
        } catch {
            #expect("\(error)".contains("iter.lua: a policy cannot keep an iterator"), "\(error)")
        }
    }

    struct Write: CustomTestStringConvertible, Sendable {
        let lua: String
        let error: String
        var testDescription: String { lua }
    }

    static let writes: [Write] = [
        Write(lua: "event.payload.amount_minor = 0", error: "attempt to change event.payload.amount_minor: event and ctx are read-only"),
        Write(lua: "event.payload.currency = nil", error: "attempt to change event.payload.currency: event and ctx are read-only"),
        Write(lua: "event.new_field = 1", error: "attempt to change event.new_field: event and ctx are read-only"),
        Write(lua: "rawset(event.payload, 'reason', 'x')", error: "attempt to change event.payload.reason: event and ctx are read-only"),
        Write(lua: "ctx.history.credits_90d_minor = 0", error: "attempt to change ctx.history.credits_90d_minor: event and ctx are read-only"),
        Write(lua: "local a = ctx.account a.status = 'active'", error: "attempt to change ctx.account.status"),
        Write(lua: "ctx.history = nil", error: "attempt to change ctx.history: event and ctx are read-only"),
        Write(lua: "table.insert(ctx.account.entitlements, 'admin')", error: "attempt to change ctx.account.entitlements[3]: event and ctx are read-only"),
        Write(lua: "ctx.account.entitlements[1] = 'admin'", error: "attempt to change ctx.account.entitlements[1]"),
        Write(lua: "setmetatable(event.payload, {})", error: "cannot change a protected metatable"),
        Write(lua: "table.sort(ctx.account.entitlements)", error: "attempt to change ctx.account.entitlements["),
        Write(lua: "event.payload.lines[2].sku = 'free'", error: "attempt to change event.payload.lines[2].sku: event and ctx are read-only"),
        Write(lua: "ctx.config.limits.max = 1e9", error: "attempt to change ctx.config.limits.max: event and ctx are read-only"),
        Write(lua: "ctx.config = {}", error: "attempt to change ctx.config: event and ctx are read-only"),
        Write(lua: "reject = approve", error: "attempt to change global 'reject': the helpers and libraries are read-only"),
        Write(lua: "credit_memo = nil", error: "attempt to change global 'credit_memo'"),
        Write(lua: "rawset(_ENV, 'approve', reject)", error: "attempt to change global 'approve'"),
        Write(lua: "_G.approve = reject", error: "attempt to change _G.approve: the helpers and libraries are read-only"),
        Write(lua: "string.format = tostring", error: "attempt to change string.format: the helpers and libraries are read-only"),
        Write(lua: "table.insert(math, 1)", error: "attempt to change math[1]"),
    ]

    @Test(arguments: writes)
    func writingTheInputOrAHelperIsAnErrorNamingIt(_ write: Write) throws {
        let engine = try engine(["probe.lua": policy("""
            \(write.lua)
            return approve{ reasons = { "written" } }
            """)])
        let event = try creditEvent(extra: ["lines": [["sku": "a"], ["sku": "b"]]])
        var context = activeStandard()
        context.account.entitlements = ["sso", "api"]
        let decision = engine.decide(event, context: context, guardrails: Guardrails())
        #expect(decision.outcome == .review)
        #expect(decision.queue == Queue.policyErrors)
        let error = try #require(decision.policies.first?.error)
        #expect(error.contains(write.error), "error was: \(error)")
        #expect(error.hasPrefix("probe.lua:"), "the error names the line: \(error)")
    }

    @Test func aHelperCannotBeRedefinedAtLoad() throws {
        do {
            _ = try PolicyEngine().compile([PolicySource(file: "redefine.lua", source: """
                function approve(t) return { outcome = "reject" } end
                return { name = "redefine", on = { "credit.requested" }, decide = function() return approve{} end }
                """)])
            Issue.record("redefining approve was accepted")
        } catch {
            #expect("\(error)".contains("attempt to change global 'approve'"), "\(error)")
        }
    }

    @Test func classesBuiltAtLoadStillWork() throws {
        let engine = try engine(["probe.lua": """
            local Tier = {}
            Tier.__index = Tier
            function Tier.new(name, limit) return setmetatable({ name = name, limit = limit }, Tier) end
            function Tier:allows(amount) return amount <= self.limit end
            local TIERS = { standard = Tier.new("standard", 5000) }
            local Defaults = setmetatable({}, { __index = function(t, k) return k .. "?" end,
                                                __call = function(self, x) return x * 2 end,
                                                __len = function() return 7 end })
            return { name = "probe", on = { "credit.requested" }, decide = function(event, ctx)
              local tier = TIERS[ctx.account.tier]
              assert(tier:allows(event.payload.amount_minor) and tier.name == "standard")
              assert(Defaults.x == "x?" and Defaults(21) == 42 and #Defaults == 7)
              local fresh = Tier.new("mine", 1)   -- built during the evaluation: its own, writable
              fresh.limit = 2
              assert(fresh:allows(2))
              return approve{ reasons = { tostring(getmetatable(tier)) } }
            end }
            """])
        let decision = engine.decide(try creditEvent(), context: activeStandard(), guardrails: Guardrails())
        #expect(decision.policies.first?.error == nil, "\(decision.policies)")
        #expect(decision.reasons == ["false"])
    }

    @Test func tostringShowsNoAddresses() throws {
        let engine = try engine(["probe.lua": policy("""
            local t = setmetatable({}, { __tostring = function() return "custom" end })
            log({}, print, t, null, 1.5, coroutine.create(function() end))
            return approve{ reasons = { tostring({}), tostring(decide), string.format("%s|%s", {}, t), tostring(event) } }
            """)])
        let decision = engine.decide(try creditEvent(), context: activeStandard(), guardrails: Guardrails())
        #expect(decision.reasons == ["table", "nil", "table|custom", "table"], "\(decision.policies)")
        #expect(decision.policies.first?.log == ["table\tnil\tcustom\tnull\t1.5\tthread"])
    }
}
