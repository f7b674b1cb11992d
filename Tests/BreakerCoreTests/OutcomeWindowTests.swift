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
