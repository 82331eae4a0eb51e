import ArbiterCore
import Foundation
import Testing

/// The request-body parser: what it accepts must mean what Foundation's parser says it means,
/// and what is not JSON must be refused, never crash, never hang.
@Suite(.timeLimit(.minutes(5))) struct JSONParserTests {
    func parse(_ text: String) throws -> JSONValue { try JSONValue.parse(Data(text.utf8)) }

    /// Foundation's reading of the same text, in JSONValue terms.
    func reference(_ text: String) throws -> JSONValue {
        func convert(_ any: Any) -> JSONValue {
            switch any {
            case let d as [String: Any]: return .object(d.mapValues(convert))
            case let a as [Any]: return .array(a.map(convert))
            case let s as String: return .string(s)
            case is NSNull: return .null
            case let n as NSNumber:
                if String(cString: n.objCType) == "c" { return .bool(n.boolValue) }
                if let i = Int64(exactly: n), !String(describing: n).contains(".") && !String(describing: n).contains("e") { return .int(i) }
                return .double(n.doubleValue)
            default: return .string("?")
            }
        }
        return convert(try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]))
    }

    @Test func validDocumentsMeanWhatFoundationSays() throws {
        let documents = [
            #"{}"#, #"[]"#, #"  {"a" : [1, 2, {"b": null}], "c": true, "d": false }  "#,
            #"{"amount_minor": 2500, "currency": "USD", "reason": "outage on 2026-11-20"}"#,
            #""plain""#, "0", "-0", "12", "-9223372036854775808", "9223372036854775807",
            #"["\u00e9t\u00e9", "\ud83d\ude00", "tab\tnew\nline", "quote\" slash\\ solidus\/"]"#,
            #"{"nested": {"deeper": {"deepest": [[], {}, [[]]]}}}"#,
            "\"caf\u{e9} \u{1F600}\"",
        ]
        for text in documents {
            #expect(try parse(text) == reference(text), "\(text)")
        }
    }

    @Test func numbersKeepIntegersExactAndTheRestAsDoubles() throws {
        #expect(try parse("2500") == .int(2500))
        #expect(try parse("-7") == .int(-7))
        #expect(try parse("12.5") == .double(12.5))
        #expect(try parse("1e3") == .double(1000))
        #expect(try parse("2.0") == .double(2), "stored JSON encodes back as it was written")
        // Validation reads integers as JSON Schema does: a zero fraction is an integer, when exact.
        #expect(try parse("2500.0").intValue == 2500 && parse("25e2").intValue == 2500)
        #expect(try parse("12.5").intValue == nil && parse("1e300").intValue == nil)
        #expect(try parse("9007199254740993.0").intValue == nil || parse("9007199254740993.0").intValue == 9007199254740992,
                "past 2^53 a Double is not exact")
        // Past Int64: a double, so validation says "too large" rather than "not an integer".
        #expect(try parse("100000000000000000000000") == .double(1e23))
        #expect(try parse("9223372036854775808") == .double(9223372036854775808))
    }

    @Test func whatIsNotJSONIsRefused() {
        let invalid = [
            "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a: 1}", "[1 2]", "01", "-", "1.", ".5", "1e", "+1",
            "tru", "nul", "\"unterminated", "\"bad \\x escape\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00 alone\"",
            "\"raw\ncontrol\"", "{} trailing", "[1] [2]", "NaN", "Infinity", "'single'",
        ]
        for text in invalid {
            #expect(throws: JSONSyntaxError.self, "\(text.debugDescription)") { try parse(text) }
        }
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(Data([0x22, 0xFF, 0xFE, 0x22])) }   // not UTF-8
    }

    @Test func deepNestingIsRefusedNotACrash() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONSyntaxError.self) { try parse(deep) }
        let fine = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(try parse(fine) != .null)
    }

    @Test func duplicateKeysKeepTheLastValue() throws {
        #expect(try parse(#"{"a": 1, "a": 2}"#) == .object(["a": 2]))
    }
}
