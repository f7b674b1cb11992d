import BreakerCore
import Testing

@Suite struct OutcomeWindowTests {
    @Test func countWindowKeepsTheLastN() {
        var w = OutcomeWindow(.count(size: 3))
        for o in [F, F, S] { w.record(successes: o == S ? 1 : 0, failures: o == F ? 1 : 0, now: at(0)) }
        #expect(w.totals(now: at(0)) == (3, 2))
        w.record(successes: 1, failures: 0, now: at(0))
        #expect(w.totals(now: at(0)) == (3, 1), "the oldest failure fell out")
        #expect(w.outcomes == [F, S, S])
        w.removeAll()
        #expect(w.totals(now: at(0)) == (0, 0))
        #expect(w.outcomes.isEmpty)
    }

    @Test func countWindowAcrossWordBoundaries() {
        var w = OutcomeWindow(.count(size: 130))
        for i in 0..<300 { w.record(successes: i % 3 == 0 ? 0 : 1, failures: i % 3 == 0 ? 1 : 0, now: at(0)) }
        // The last 130 of i in 170..<300: failures where i % 3 == 0.
        let expected = (170..<300).filter { $0 % 3 == 0 }.count
        #expect(w.totals(now: at(0)) == (130, expected))
        #expect(w.outcomes.filter { $0 == F }.count == expected)
    }

    @Test func countWindowBatchLargerThanCapacity() {
        var w = OutcomeWindow(.count(size: 4))
        w.record(successes: 1_000_000, failures: 2, now: at(0))
        #expect(w.totals(now: at(0)) == (4, 2))
        #expect(w.outcomes == [S, S, F, F])
    }

    @Test func timeWindowDropsWholeBucketsAsTimeMoves() {
        // 1 s in 10 buckets of 100 ms.
        var w = OutcomeWindow(.time(duration: .seconds(1), buckets: 10))
        w.record(successes: 0, failures: 1, now: at(0))
        w.record(successes: 1, failures: 0, now: at(550))
        #expect(w.totals(now: at(999)) == (2, 1))
        #expect(w.totals(now: at(1_000)) == (1, 0), "the bucket of t=0 ended at t=1000")
        #expect(w.totals(now: at(1_499)) == (1, 0))
        #expect(w.totals(now: at(1_500)) == (0, 0), "the bucket of t=550 (500..<600) ended at t=1500")
        // A slot reused by a later epoch starts from zero.
        w.record(successes: 0, failures: 1, now: at(2_050))
        #expect(w.totals(now: at(2_050)) == (1, 1))
    }
}

@Suite struct OutcomeWindowEncodingTests {
    @Test func countWindowRoundTrips() throws {
        var w = OutcomeWindow(.count(size: 5))
        for f in [true, false, false, true, true, false] {
            w.record(successes: f ? 0 : 1, failures: f ? 1 : 0, now: at(0))
        }
        let text = w.encoded(now: at(0))
        #expect(text == "c:SSFFS")
        let back = try #require(
            OutcomeWindow(.count(size: 5), decoding: text, now: at(999_999), elapsed: .seconds(3_600))
        )
        #expect(back.outcomes == w.outcomes && back.totals(now: at(0)) == (5, 2))
    }

    @Test func timeWindowAgesByTheTimeItWasDown() throws {
        var w = OutcomeWindow(.time(duration: .seconds(1), buckets: 10))
        w.record(successes: 1, failures: 2, now: at(0))
        w.record(successes: 4, failures: 0, now: at(750))
        let text = w.encoded(now: at(800))
        #expect(text.hasPrefix("t:"))
        // Restored on another clock, 100 ms later: both buckets still inside the window.
        let later = try #require(
            OutcomeWindow(
                .time(duration: .seconds(1), buckets: 10),
                decoding: text,
                now: at(50_000),
                elapsed: .milliseconds(100)
            )
        )
        #expect(later.totals(now: at(50_000)) == (7, 2))
        // 300 ms later: the bucket of t=0 (age 8, now 11) fell out.
        let older = try #require(
            OutcomeWindow(
                .time(duration: .seconds(1), buckets: 10),
                decoding: text,
                now: at(50_000),
                elapsed: .milliseconds(300)
            )
        )
        #expect(older.totals(now: at(50_000)) == (4, 0))
    }

    @Test func mismatchedOrMalformedTextIsRefused() {
        #expect(OutcomeWindow(.count(size: 3), decoding: "t:0,1,1", now: at(0), elapsed: .zero) == nil)
        #expect(
            OutcomeWindow(.time(duration: .seconds(1), buckets: 2), decoding: "c:SF", now: at(0), elapsed: .zero) == nil
        )
        #expect(OutcomeWindow(.count(size: 3), decoding: "c:SXF", now: at(0), elapsed: .zero) == nil)
        #expect(OutcomeWindow(.count(size: 3), decoding: "garbage", now: at(0), elapsed: .zero) == nil)
        #expect(
            OutcomeWindow(.time(duration: .seconds(1), buckets: 2), decoding: "t:0,1,5", now: at(0), elapsed: .zero)
                == nil
        )
    }
}
