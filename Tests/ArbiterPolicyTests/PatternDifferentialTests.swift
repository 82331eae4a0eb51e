import ArbiterCore
import ArbiterPolicy
import CLuaReference
import Foundation
import Testing

/// The sandbox's pattern matcher against stock Lua 5.4's (the system library): the same grid
/// of subjects × patterns × calls must give the same results, errors included (as "ERR").
@Suite(.timeLimit(.minutes(5))) struct PatternDifferentialTests {
    static let script = #"""
        local subjects = { "hello world", "", "aaa", "THE (quick) fox", "key=val; k2 = v2", "  padded  ",
          "a.b.c", "f(a(b)c)d", "x1y22z333", "caf\xc3\xa9 cr\xc3\xa8me", "[]]", "%d%%", "a,b,,c", "aXbXc", "\0a\0" }
        local patterns = { "o", "l+", "l*", "l-", "l?", "^h", "d$", "%a+", "%d+", "^%s*(.-)%s*$", "(%w+)%s*=%s*(%w+)",
          "%b()", "%f[%a]%a+", "()ll()", "[%a_][%w_]*", "[^%s]+", "(a)%1", ".-", "", "[]]", "[^]]", "%.", "a.-c",
          "(h)(e)(l)", "^(%w+)", "[%d%.]+", "x*$", ",", "(,)", "%%", "[a-c]+", "[%-]", "%w-X", "(%a)(%a?)", "[%z]",
          "%u+", "%l%l", "%p", "%c", "%x+", "[^%a%d]", ".", "..", "(.)(.)(.)", "(()a)", "%bXc", "%f[%w]%w+%f[%W]",
          "[a-]", "[%a-z]", "^", "$", "^$", "(", "%", "[a", "%b", "%f", "(%1)", ")", "%g+",
          "((%a)(%a))", "%b\"\"", "%f[%z]", "%f[^%z]", "^(a*)", "(.-)$", "[^%d]+", "(%d)(%d)%2", "[a-z][a-z]-%s",
          "()", "(()(%a+)())", "[%]]", "[%^]", "[^^]", "x?y?z?", "%s*$", "%S+", "%A", "%D%D" }
        local out = {}
        local function add(ok, ...)
          if not ok then out[#out + 1] = "ERR" return end
          local parts = {}
          for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
          out[#out + 1] = table.concat(parts, ",")
        end
        local function collect(s, p)
          local r = {}
          for a, b in string.gmatch(s, p) do
            r[#r + 1] = tostring(a) .. "/" .. tostring(b)
            if #r > 20 then break end
          end
          return table.concat(r, " ")
        end
        for _, s in ipairs(subjects) do
          for _, p in ipairs(patterns) do
            add(pcall(string.find, s, p))
            add(pcall(string.find, s, p, 2))
            add(pcall(string.find, s, p, -3))
            add(pcall(string.find, s, p, 1, true))
            add(pcall(string.match, s, p))
            add(pcall(string.match, s, p, 3))
            add(pcall(string.gsub, s, p, "<%0>"))
            add(pcall(string.gsub, s, p, "%1", 2))
            add(pcall(string.gsub, s, p, "%%%0%%"))
            add(pcall(string.gsub, s, p, function(a, b) return "[" .. tostring(a) .. "|" .. tostring(b) .. "]" end))
            add(pcall(string.gsub, s, p, { a = "A", l = false }))
            add(pcall(collect, s, p))
          end
        end
        return table.concat(out, "\n")
        """#

    @Test func sandboxMatchesStockLua() throws {
        var length = 0
        var error: UnsafeMutablePointer<CChar>?
        let raw = Self.script.withCString { arb_reference_run($0, strlen($0), &length, &error) }
        if let error {
            Issue.record("reference Lua failed: \(String(cString: error))")
            free(error)
            return
        }
        let reference = try #require(raw.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: length), as: UTF8.self) })
        free(raw)

        let body = Self.script.replacingOccurrences(of: "return table.concat(out, \"\\n\")",
            with: "return approve{ actions = { credit_memo{ amount_minor = 1, currency = \"USD\", out = table.concat(out, \"\\n\") } } }")
        let engine = try engine(["grid.lua": policy(body, name: "grid")],
                                limits: PolicyLimits(instructionBudget: 500_000_000, memoryBytes: 64 << 20, timeLimitMillis: 20_000))
        let decision = engine.decide(try creditEvent(), context: activeStandard(), guardrails: Guardrails())
        let sandboxed = try #require(decision.actions.first?.fields["out"]?.stringValue, "\(decision.policies.first?.error ?? "")")

        let want = reference.split(separator: "\n", omittingEmptySubsequences: false)
        let got = sandboxed.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(want.count == got.count)
        #expect(want.count > 14_000)
        var mismatches = 0
        for (i, (w, g)) in zip(want, got).enumerated() where w != g {
            mismatches += 1
            if mismatches <= 10 { Issue.record("case \(i): stock Lua gave \(w.debugDescription), the sandbox \(g.debugDescription)") }
        }
        #expect(mismatches == 0)
    }
}
