import BreakerCore
import BreakerProtocol
import Foundation
import Testing

/// The hand-written decoder of acquire/report against the general JSON path, on the same random inputs.
@Suite struct FastDecodingTests {
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    func general(_ bytes: [UInt8]) -> Request? {
        bytes.withUnsafeBytes { try? Request.decodeGeneral(line: $0) }
    }

    func fast(_ bytes: [UInt8]) -> Request? {
        bytes.withUnsafeBytes { Request.decodeFast(line: $0) }
    }

    /// One random line built from pieces that are sometimes valid and sometimes not.
    func randomLine(_ rng: inout SplitMix) -> String {
        // Half the lines use only valid pieces (the first ones of each list), the rest anything.
        let validOnly = Bool.random(using: &rng)
        let validCount = [2, 2, 4, 3, 2, 2, 2]  // how many leading options of each list are valid
        var list = 0
        func pick(_ options: [String]) -> String {
            defer { list += 1 }
            let n = validOnly ? min(validCount[min(list, validCount.count - 1)], options.count) : options.count
            return options[Int.random(in: 0..<n, using: &rng)]
        }
        let space = { (rng: inout SplitMix) -> String in ["", "", " ", "\t", "  "].randomElement(using: &rng)! }
        var members: [String] = []
        members.append(
            #""op":"# + pick([#""acquire""#, #""report""#, #""report""#, #""status""#, "7", #""acq\u0075ire""#])
        )
        members.append(
            #""resource":"#
                + pick([
                    #""db""#, #""pay/x@1:y-z.q_r""#, #""has space""#, #""""#, "5", #""é""#,
                    "\"" + String(repeating: "a", count: 200) + "\"", "\"" + String(repeating: "b", count: 201) + "\"",
                ])
        )
        if Bool.random(using: &rng) {
            members.append(
                #""id":"#
                    + pick([
                        "1", "-0", "0", "007", "1.0", "9223372036854775807", "9223372036854775808", #""x""#,
                        "\"" + String(repeating: "i", count: 64) + "\"",
                        "\"" + String(repeating: "i", count: 65) + "\"", "{}", "null", "-",
                    ])
            )
        }
        if Bool.random(using: &rng) {
            members.append(#""outcome":"# + pick([#""success""#, #""failure""#, #""ignored""#, #""maybe""#, "true"]))
        }
        if Int.random(in: 0..<3, using: &rng) == 0 {
            members.append(#""permit":"# + pick([#""2.1""#, #""0.0""#, #""x.1""#, #""2.""#, "21"]))
        }
        if Int.random(in: 0..<3, using: &rng) == 0 {
            members.append(#""noreply":"# + pick(["true", "false", #""yes""#, "1"]))
        }
        if Int.random(in: 0..<3, using: &rng) == 0 {
            members.append(#""duration_ms":"# + pick(["0", "12", "-1", "1.5", "1e3"]))
        }
        if !validOnly {
            if Int.random(in: 0..<5, using: &rng) == 0 { members.append(#""extra":"# + pick(["1", #""x""#, "[1,2]"])) }
            if Int.random(in: 0..<6, using: &rng) == 0 { members.append(#""policy":{"failure_threshold":"1/2"}"#) }
            if Int.random(in: 0..<6, using: &rng) == 0 { members.append(#""successes":3"#) }
            if Int.random(in: 0..<8, using: &rng) == 0, let dup = members.randomElement(using: &rng) {
                members.append(dup)
            }
        }
        members.shuffle(using: &rng)
        var line = space(&rng) + "{" + space(&rng)
        line += members.map { $0.replacingOccurrences(of: ":", with: space(&rng) + ":" + space(&rng), maxOnce: true) }
            .joined(separator: space(&rng) + "," + space(&rng))
        line += space(&rng) + "}" + space(&rng)
        if !validOnly && Int.random(in: 0..<20, using: &rng) == 0 {
            line += ["x", ",", "}"].randomElement(using: &rng)!
        }
        return line
    }

    @Test func fastAgreesWithGeneralWheneverItAnswers() {
        var rng = SplitMix(state: 20_261_124)
        var accepted = 0
        let total = 20_000
        for _ in 0..<total {
            let bytes = Array(randomLine(&rng).utf8)
            guard let f = fast(bytes) else { continue }
            accepted += 1
            #expect(general(bytes) == f, "\(String(decoding: bytes, as: UTF8.self))")
        }
        #expect(accepted > total / 20, "the fast path answers a real share: \(accepted) of \(total)")
    }

    @Test func fastAgreesOnByteMutations() {
        var rng = SplitMix(state: 7)
        let seeds = [
            #"{"op":"acquire","resource":"db"}"#,
            #"{"id":12,"op":"report","resource":"db","outcome":"failure","permit":"3.4","noreply":true,"duration_ms":7}"#,
        ].map { Array($0.utf8) }
        for _ in 0..<20_000 {
            var bytes = seeds.randomElement(using: &rng)!
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[i] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.remove(at: i)
                default: bytes.insert(UInt8.random(in: 0x20...0x7E, using: &rng), at: i)
                }
                if bytes.isEmpty { break }
            }
            if let f = fast(bytes) { #expect(general(bytes) == f, "\(bytes)") }
        }
    }

    @Test func theHotLinesTakeTheFastPath() throws {
        for line in [
            #"{"op":"acquire","resource":"hot"}"#, #"{"id":"a1","op":"acquire","resource":"svc/1"}"#,
            #"{"op":"report","resource":"hot","outcome":"success","noreply":true}"#,
            #"{"op":"report","resource":"hot","outcome":"failure","permit":"2.7","duration_ms":31}"#,
        ] {
            let bytes = Array(line.utf8)
            #expect(fast(bytes) != nil, "\(line)")
            #expect(fast(bytes) == general(bytes))
        }
        #expect(fast(Array(#"{"op":"acquire","resource":"bad name"}"#.utf8)) == nil, "errors go to the general path")
    }
}

extension String {
    func replacingOccurrences(of target: String, with replacement: String, maxOnce: Bool) -> String {
        guard let r = range(of: target) else { return self }
        return replacingCharacters(in: r, with: replacement)
    }
}
