import BreakerProtocol
import Testing

@Suite struct JSONTests {
    func parse(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    @Test func parsesEveryKindOfValue() throws {
        let v = try parse(#" {"a":[1,-2,3.5,1e3,true,false,null],"b":{"c":"d"},"e":"\u00e9\ud83d\ude00\n\"\\/"} "#)
        #expect(
            v["a"]
                == .array([.integer(1), .integer(-2), .number(3.5), .number(1000), .bool(true), .bool(false), .null])
        )
        #expect(v["b"]?["c"] == .string("d"))
        #expect(v["e"] == .string("é😀\n\"\\/"))
        #expect(try parse("9223372036854775807") == .integer(.max))
        #expect(try parse("-9223372036854775808") == .integer(.min))
        #expect(try parse("9223372036854775808") == .number(9_223_372_036_854_775_808), "beyond Int64: a double")
        #expect(try parse(#""héllo""#) == .string("héllo"), "raw UTF-8")
    }

    @Test(arguments: [
        ("", "unexpected end of input"),
        ("{", "expected a member name"),
        ("{\"a\" 1}", "expected ':'"),
        ("{\"a\":1,}", "expected a member name"),
        ("[1 2]", "expected ',' or ']'"),
        ("01", "unexpected text after"),
        ("1.", "digits expected after '.'"),
        ("1e", "digits expected in the exponent"),
        ("-", "invalid number"),
        ("tru", "unexpected end of input"),
        ("nul", "unexpected end of input"),
        ("\"abc", "unterminated string"),
        ("\"a\tb\"", "control character"),
        ("\"\\x\"", "invalid escape"),
        ("\"\\ud800\"", "unpaired surrogate"),
        ("\"\\u12zz\"", "invalid hex digit"),
        ("\"\\u12\"", "incomplete"),
        ("{} {}", "unexpected text after"),
        (#"{"a":1,"a":2}"#, "appears twice"),
        ("@", "unexpected character '@'"),
    ])
    func rejectsMalformedJSONWithAReason(text: String, reason: String) {
        #expect {
            _ = try parse(text)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParser.Error.self) { _ = try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
    }

    @Test func limitsNesting() throws {
        let ok =
            String(repeating: "[", count: JSONParser.maximumDepth)
            + String(repeating: "]", count: JSONParser.maximumDepth)
        #expect(throws: Never.self) { _ = try parse(ok) }
        let deep = String(repeating: "[", count: 100_000)
        #expect { _ = try parse(deep) } throws: { "\($0)".contains("nesting deeper") }
    }

    @Test func writerEscapesAndRoundTrips() throws {
        var w = JSONWriter()
        w.beginObject()
        w.key("s")
        w.string("quote \" backslash \\ newline \n tab \t bell \u{07} é")
        w.key("n")
        w.integer(Int64.min)
        w.key("m")
        w.integer(Int64.max)
        w.key("z")
        w.integer(0)
        w.key("a")
        w.beginArray()
        w.bool(true)
        w.null()
        w.integer(-42)
        w.endArray()
        w.endObject()
        let text = String(decoding: w.bytes, as: UTF8.self)
        #expect(text.contains(#"\u0007"#))
        let back = try parse(text)
        #expect(back["s"] == .string("quote \" backslash \\ newline \n tab \t bell \u{07} é"))
        #expect(back["n"] == .integer(.min) && back["m"] == .integer(.max) && back["z"] == .integer(0))
        #expect(back["a"] == .array([.bool(true), .null, .integer(-42)]))
    }

    @Test func randomValuesRoundTrip() throws {
        var rng = SystemRandomNumberGenerator()
        func random(_ depth: Int) -> JSONValue {
            switch Int.random(in: 0..<(depth > 3 ? 5 : 7), using: &rng) {
            case 0: return .null
            case 1: return .bool(Bool.random(using: &rng))
            case 2: return .integer(Int64.random(in: .min ... .max, using: &rng))
            case 3:
                let scalars = (0..<Int.random(in: 0..<12, using: &rng)).map { _ in
                    Character(Unicode.Scalar(UInt32.random(in: 1..<0xD7FF, using: &rng))!)
                }
                return .string(String(scalars))
            case 4: return .string("plain")
            case 5: return .array((0..<Int.random(in: 0..<4, using: &rng)).map { _ in random(depth + 1) })
            default:
                return .object(
                    Dictionary(
                        uniqueKeysWithValues: (0..<Int.random(in: 0..<4, using: &rng)).map {
                            ("k\($0)", random(depth + 1))
                        }
                    )
                )
            }
        }
        for _ in 0..<500 {
            let v = random(0)
            var w = JSONWriter()
            w.value(v)
            #expect(try JSONParser.parse(w.bytes) == v)
        }
    }

    @Test func numbersBeyondDoubleAreValidJSONAndReadAsInfinity() throws {
        #expect(try JSONParser.parse(Array("1e999".utf8)) == .number(.infinity))
        #expect(try JSONParser.parse(Array("-1e999".utf8)) == .number(-.infinity))
        #expect(try JSONParser.parse(Array("18446744073709551616".utf8)) == .number(18_446_744_073_709_551_616))
        // Written back, they read as the same values (found by the fuzzer: "inf" is not JSON).
        for value in [JSONValue.number(.infinity), .number(-.infinity)] {
            var w = JSONWriter()
            w.value(value)
            #expect(try JSONParser.parse(w.bytes) == value)
        }
    }
}
