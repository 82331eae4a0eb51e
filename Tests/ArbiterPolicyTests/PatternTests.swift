import ArbiterCore
import ArbiterPolicy
import Testing

/// The sandbox's own pattern matcher must behave like Lua 5.4's (reference manual §6.4.1).
@Suite(.timeLimit(.minutes(5))) struct PatternTests {
    static let checks = """
        local function eq(a, b, what) if a ~= b then error(what .. ': got ' .. tostring(a) .. ', want ' .. tostring(b), 2) end end
        local s, e, c = ("hello world"):find("o w") eq(s, 5, "find s") eq(e, 7, "find e")
        s, e, c = ("THE (quick) fox"):find("%((%a+)%)") eq(s, 5, "cap s") eq(e, 11, "cap e") eq(c, "quick", "cap")
        local k, v = ("key = val"):match("(%w+)%s*=%s*(%w+)") eq(k, "key", "k") eq(v, "val", "v")
        eq(("  trim me  "):match("^%s*(.-)%s*$"), "trim me", "trim")
        eq(("f(a(b)c)d"):match("%b()"), "(a(b)c)", "balance")
        local r, n = ("THE (quick) fox"):gsub("%f[%a]%a+", "W") eq(r, "W (W) W", "frontier") eq(n, 3, "frontier n")
        local p1, p2 = ("hello"):match("()ll()") eq(p1, 3, "pos1") eq(p2, 5, "pos2")
        local q, body = ('say "hi" now'):match('(["\\'])(.-)%1') eq(q, '"', "backref q") eq(body, "hi", "backref")
        r, n = ("hello world"):gsub("(%w+)", "<%1>") eq(r, "<hello> <world>", "gsub caps") eq(n, 2, "gsub n")
        r, n = ("abc"):gsub("%w", "%0%0") eq(r, "aabbcc", "gsub %0")
        r, n = ("aaa"):gsub("^a", "b") eq(r, "baa", "anchored gsub") eq(n, 1, "anchored n")
        r, n = ("abc"):gsub("", "-") eq(r, "-a-b-c-", "empty matches") eq(n, 4, "empty n")
        r = ("$name is $age"):gsub("%$(%w+)", { name = "Ann", age = 7 }) eq(r, "Ann is 7", "gsub table")
        r = ("1 2 3"):gsub("%d", function(d) return d * 2 end) eq(r, "2 4 6", "gsub function")
        r, n = ("a b c"):gsub("%a", "x", 2) eq(r, "x x c", "gsub max") eq(n, 2, "gsub max n")
        r = ("keep"):gsub("e", function() return nil end) eq(r, "keep", "gsub nil keeps")
        s, e = ("a.b"):find(".", 1, true) eq(s, 2, "plain find")
        s = ("hello"):find("l", -2) eq(s, 4, "negative init")
        eq(("hello"):find("x"), nil, "no match")
        eq(("hello"):find("", 10), nil, "init past end")
        eq(("hello"):find("", 6), 6, "empty at end")
        local words = {} for w in ("one two  three"):gmatch("%a+") do words[#words + 1] = w end
        eq(table.concat(words, ","), "one,two,three", "gmatch")
        local pairs_ = {} for k, v in ("a=1, b=2"):gmatch("(%w+)=(%w+)") do pairs_[#pairs_ + 1] = k .. v end
        eq(table.concat(pairs_, ","), "a1,b2", "gmatch caps")
        eq(("x1y22z333"):match("%d+", 4), "22", "match init")
        eq(("[x]"):match("[]]"), "]", "set with ]")
        eq(("a-b"):match("[a%-]+"), "a-", "set with escaped -")
        eq(("0x1F"):match("%x+$"), "1F", "hex class")
        eq(("caf\\xc3\\xa9"):match("%a+"), "caf", "ascii-only classes")
        eq(("end$"):match("d%$"), "d$", "escaped $")
        eq(("a$b"):match("a$b"), "a$b", "$ not at end is literal")
        eq(select("#", ("abc"):match("(a)(b)(c)")), 3, "three captures")
        local ok, err = pcall(string.find, "x", "[a") eq(ok, false, "malformed") assert(err:find("missing ']'"), err)
        ok, err = pcall(string.find, "x", "%") assert(err:find("ends with '%%'"), err)
        ok, err = pcall(string.gsub, "x", "x", "%2") assert(err:find("invalid capture index"), err)
        ok, err = pcall(string.gsub, "x", "x", "%z") assert(err:find("invalid use of '%%'"), err)
        return approve{ reasons = { "all pattern checks passed" } }
        """

    @Test func patternFunctionsBehaveLikeLua() throws {
        let engine = try engine(["patterns.lua": policy(Self.checks, name: "patterns")])
        let decision = engine.decide(try creditEvent(), context: activeStandard(), guardrails: Guardrails())
        #expect(decision.policies.first?.error == nil, "\(decision.policies.first?.error ?? "")")
        #expect(decision.reasons == ["all pattern checks passed"])
    }
}
