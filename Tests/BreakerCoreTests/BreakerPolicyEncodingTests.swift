import BreakerCore
import Testing

/// `BreakerPolicy.encoded` / `init?(encoded:)`: the text the store keeps.
@Suite struct BreakerPolicyEncodingTests {
    /// Policies of every window kind, with and without a success threshold, at the edges of each range.
    static func policies() throws -> [BreakerPolicy] {
        var out: [BreakerPolicy] = [.default]
        let windows: [BreakerPolicy.Window?] = [
            nil, .count(size: 1), .count(size: 7), .count(size: BreakerPolicy.maximumWindowSize),
            .time(duration: .seconds(60), buckets: 60), .time(duration: .milliseconds(1), buckets: 1),
            .time(duration: .milliseconds(1_000), buckets: BreakerPolicy.maximumBuckets),
            .time(duration: BreakerPolicy.maximumDuration, buckets: 7),
            .time(duration: .nanoseconds(1_500_000), buckets: 1),
        ]
        let thresholds: [(Fraction, Fraction?)] = [
            (Fraction(1, 1), nil), (Fraction(2, 4), Fraction(3, 3)), (Fraction(5, 5), Fraction(1, 10)),
            (Fraction(1, BreakerPolicy.maximumWindowSize), Fraction(1, 2)), (Fraction(2, 6), Fraction(2, 4)),
        ]
        let durations: [(cooldown: Duration, ttl: Duration)] = [
            (.zero, .milliseconds(1)), (.seconds(30), .seconds(10)),
            (BreakerPolicy.maximumDuration, BreakerPolicy.maximumDuration), (.nanoseconds(1), .nanoseconds(999_999)),
        ]
        for window in windows {
            for (failure, success) in thresholds {
                for (cooldown, ttl) in durations {
                    let size = window.flatMap { if case .count(let n) = $0 { n } else { nil } } ?? failure.denominator
                    for minimumCalls in [nil, 1, size] as [Int?] {
                        for permits in [nil, 1, BreakerPolicy.maximumHalfOpenPermits] as [Int?] {
                            out.append(
                                try BreakerPolicy(
                                    failureThreshold: failure,
                                    successThreshold: success,
                                    cooldown: cooldown,
                                    window: window,
                                    minimumCalls: minimumCalls,
                                    halfOpenPermits: permits,
                                    permitTTL: ttl
                                )
                            )
                        }
                    }
                }
            }
        }
        return out
    }

    @Test func everyPolicyRoundTrips() throws {
        let all = try Self.policies()
        #expect(all.count > 1_000)
        for p in all {
            let text = p.encoded
            #expect(BreakerPolicy(encoded: text) == p, "\(text)")
            #expect(!text.contains(" ") && !text.contains("\n"), "\(text)")
        }
    }

    @Test func theTextIsCompactAndKeepsFractionsAsGiven() throws {
        let p = try BreakerPolicy(failureThreshold: Fraction(2, 4), successThreshold: Fraction(3, 3))
        #expect(p.encoded == "v=1;f=2/4;s=3/3;c=30000;w=count:4;m=4;p=3;t=10000")
        let q = try BreakerPolicy(
            failureThreshold: Fraction(10, 20),
            window: .time(duration: .seconds(60), buckets: 60),
            permitTTL: .seconds(5)
        )
        #expect(q.encoded == "v=1;f=10/20;c=30000;w=time:60000:60;m=20;p=20;t=5000", "no s= when nil")
        let r = try BreakerPolicy(failureThreshold: Fraction(1, 1), cooldown: .microseconds(1_500))
        #expect(r.encoded.hasPrefix("v=1;f=1/1;c=1500000ns;"), "a duration that is not whole ms keeps its ns")
    }

    @Test func missingKeysTakeTheDefaults() throws {
        #expect(BreakerPolicy(encoded: "f=2/5") == (try BreakerPolicy(failureThreshold: Fraction(2, 5))))
        #expect(BreakerPolicy(encoded: "v=1;f=10/20;s=3/3") == .default)
        let time = try BreakerPolicy(
            failureThreshold: Fraction(3, 7),
            window: .time(duration: .seconds(10), buckets: 10)
        )
        #expect(BreakerPolicy(encoded: "v=1;f=3/7;w=time:10000:10") == time)
    }

    @Test func unknownKeysAreIgnored() throws {
        let p = try BreakerPolicy(
            failureThreshold: Fraction(2, 5),
            successThreshold: Fraction(1, 2),
            cooldown: .seconds(7)
        )
        #expect(BreakerPolicy(encoded: p.encoded + ";slow_call_ms=500;x=") == p)
        #expect(BreakerPolicy(encoded: "future=a:b:c;" + p.encoded) == p)
    }

    @Test func malformedOrInvalidTextIsRefused() {
        for text in [
            "", "v=1", "v=2;f=2/5", "f=2/5;garbage", "f=two/five", "f=0/5", "f=6/5", "f=2/5;s=0/3", "f=2/5;c=-1",
            "f=2/5;c=abc", "f=2/5;w=count", "f=2/5;w=count:0", "f=2/5;w=time:1000", "f=2/5;w=time:5:10",
            "f=2/5;w=hours:1", "f=2/5;w=?", "f=2/5;m=6", "f=2/5;p=0", "f=2/5;t=0", "f=2/5;t=5xs",
            "f=1/1;c=\(BreakerPolicy.maximumDuration.millisecondsRoundedUp + 1)",
            #"{"failure_threshold":"2/5"}"#,
        ] {
            #expect(BreakerPolicy(encoded: text) == nil, "\(text)")
        }
    }
}
