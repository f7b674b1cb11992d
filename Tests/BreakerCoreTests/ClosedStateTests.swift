import BreakerCore
import Testing

/// Rules 1 and 3: transitions carry generations; closed trips only with a full enough window at the threshold.
@Suite struct ClosedStateTests {
    @Test func closedAlwaysAllows() throws {
        var m = BreakerStateMachine(policy: try policy("2/5"), now: at(0))
        for i in 0..<100 {
            let d = m.acquire(now: at(Int64(i)))
            #expect(d.allowed && d.permit == nil && d.retryAfter == nil && d.transitions.isEmpty)
        }
    }

    @Test func seedRuleTripsWhenTheFullWindowReachesTheThreshold() throws {
        var m = BreakerStateMachine(policy: try policy("2/5"), now: at(0))
        // 4 calls, 2 failures: the window (5) is not full yet.
        #expect(m.feed([F, S, F, S], now: at(1)).isEmpty)
        #expect(m.state == .closed)
        // The 5th call is a success: 2 of 5 failed, but trips are checked after failures only.
        #expect(m.feed([S], now: at(2)).isEmpty)
        #expect(m.state == .closed)
        // Now the window is [S,F,S,S,F] after this failure: 2/5 ≥ 2/5.
        let transitions = m.feed([F], now: at(3))
        #expect(
            transitions == [
                BreakerTransition(from: .closed, to: .open, cause: .failureThreshold, generation: 1, at: at(3))
            ]
        )
        #expect(m.state == .open)
        #expect(m.generation == 1)
    }

    @Test func oneBelowTheThresholdDoesNotTrip() throws {
        var m = BreakerStateMachine(policy: try policy("2/5"), now: at(0))
        #expect(m.feed([S, S, S, S, F, S, S, S, S, F, S, S, S, S, F], now: at(1)).isEmpty)
        #expect(m.state == .closed, "never 2 failures within 5 calls")
        #expect(m.feed([S, S, S, F, F], now: at(2)).count == 1, "2 failures within the last 5 trip")
    }

    @Test func minimumCallsIsAnEdgeOnBothSides() throws {
        // Time window: trip at ≥ 50% failures once there are at least 4 calls.
        let p = try policy("1/2", window: .time(duration: .seconds(10), buckets: 10), minimumCalls: 4)
        var m = BreakerStateMachine(policy: p, now: at(0))
        #expect(m.feed([F, F, F], now: at(1)).isEmpty, "3 calls < minimumCalls 4")
        #expect(m.state == .closed)
        #expect(m.feed([F], now: at(2)).count == 1, "the 4th call reaches minimumCalls")
        #expect(m.state == .open)
    }

    @Test func explicitWindowLargerThanTheDenominator() throws {
        // 3/10 over a window of 20 with minimumCalls 10: a rate rule over the last 20 calls.
        var m = BreakerStateMachine(policy: try policy("3/10", window: .count(size: 20), minimumCalls: 10), now: at(0))
        #expect(m.feed([S, S, S, S, S, S, S, F, F], now: at(1)).isEmpty, "9 calls < 10")
        #expect(m.feed([S], now: at(1)).isEmpty)
        #expect(m.feed([F], now: at(1)).isEmpty, "3 of 11 = 0.27 < 3/10")
        #expect(m.feed([F], now: at(1)).count == 1, "4 of 12 = 0.33 ≥ 3/10")
    }

    @Test func ignoredOutcomesDoNotCount() throws {
        var m = BreakerStateMachine(policy: try policy("1/2"), now: at(0))
        let r = m.report(.ignored, permit: nil, now: at(1))
        #expect(!r.counted && r.ignoredBecause == .ignoredOutcome)
        #expect(m.window.totals(now: at(1)) == (0, 0))
    }

    @Test func batchedReportsCountAndTrip() throws {
        var m = BreakerStateMachine(policy: try policy("3/10"), now: at(0))
        #expect(m.record(successes: 8, failures: 1, now: at(1)).transitions.isEmpty)
        let r = m.record(successes: 0, failures: 2, now: at(2))
        #expect(r.counted && r.transitions.map(\.cause) == [.failureThreshold])
    }

    @Test func timeWindowForgetsOldFailures() throws {
        let p = try policy("2/4", window: .time(duration: .seconds(1), buckets: 10), minimumCalls: 4)
        var m = BreakerStateMachine(policy: p, now: at(0))
        _ = m.feed([F, F, S], now: at(0))
        #expect(m.feed([S], now: at(1_500)).isEmpty, "the old failures are out of the window")
        #expect(m.window.totals(now: at(1_500)) == (1, 0))
    }
}
