import HighwayBreaker
import Synchronization
import Testing

/// Issue #16's rules in the in-process breaker: slow calls timed by the breaker's clock, growing cooldowns with
/// jitter from an injected generator, and shadow mode.
@Suite struct PolicyRulesTests {
    // MARK: Slow calls

    /// Window of 5, trip at 2/5 slow; failures alone would need 5/5.
    func slowBreaker(_ clock: ManualClock, log: TransitionLog? = nil) throws -> CircuitBreakerPolicy {
        try CircuitBreakerPolicy(
            failureThreshold: Fraction(5, 5),
            slowCallDuration: .milliseconds(100),
            slowCallThreshold: Fraction(2, 5),
            onStateChange: log?.handler(),
            clock: clock
        )
    }

    @Test func callsJustUnderTheSlowDurationAreNotSlow() throws {
        let clock = ManualClock()
        let breaker = try slowBreaker(clock)
        for _ in 0..<20 { drive(breaker, taking: .microseconds(99_999), on: clock) }
        #expect(breaker.state == .closed, "99.999 ms is under 100 ms: nothing is slow")
    }

    @Test func slowRatioJustUnderTheThresholdStaysClosedAndAtItTrips() throws {
        let clock = ManualClock()
        let log = TransitionLog()
        let breaker = try slowBreaker(clock, log: log)
        for _ in 0..<4 { drive(breaker, taking: .milliseconds(1), on: clock) }
        drive(breaker, taking: .milliseconds(100), on: clock)
        #expect(breaker.state == .closed, "1 slow of 5 is under 2/5")
        drive(breaker, taking: .milliseconds(100), on: clock)
        #expect(breaker.state == .open, "2 slow of the last 5 (exactly 100 ms each) reach 2/5")
        #expect(log.pairs == ["closed->open"])
    }

    @Test func slowFailuresAreSlowToo() throws {
        let clock = ManualClock()
        let breaker = try slowBreaker(clock)
        for _ in 0..<3 { drive(breaker, taking: .milliseconds(1), on: clock) }
        drive(breaker, taking: .milliseconds(250), on: clock, fails: true)
        drive(breaker, taking: .milliseconds(250), on: clock, fails: true)
        #expect(breaker.state == .open, "2 failures of 5 do not reach 5/5, but 2 slow calls reach 2/5")
    }

    @Test func manualCompletionTakesTheDuration() throws {
        let clock = ManualClock()
        let breaker = try slowBreaker(clock)
        for duration in [Duration.milliseconds(5), .milliseconds(5), .milliseconds(5), .milliseconds(99)] {
            breaker.complete(.success, permit: try breaker.acquire(), duration: duration)
        }
        breaker.complete(.success, permit: try breaker.acquire(), duration: .milliseconds(100))
        #expect(breaker.state == .closed)
        breaker.complete(.success, permit: try breaker.acquire(), duration: .milliseconds(100))
        #expect(breaker.state == .open)
    }

    @Test func aSlowProbeFailsTheHalfOpenPeriod() throws {
        let clock = ManualClock()
        let breaker = try CircuitBreakerPolicy(
            cooldown: .seconds(10),
            failureThreshold: Fraction(1, 1),
            successThreshold: Fraction(1, 1),
            slowCallDuration: .milliseconds(100),
            slowCallThreshold: Fraction(1, 1),
            clock: clock
        )
        drive(breaker, taking: .milliseconds(100), on: clock)
        #expect(breaker.state == .open)
        clock.advance(by: .seconds(10))
        drive(breaker, taking: .milliseconds(150), on: clock)
        #expect(breaker.state == .open, "a probe that succeeded slowly counts as failed")
        clock.advance(by: .seconds(10))
        drive(breaker, taking: .milliseconds(99), on: clock)
        #expect(breaker.state == .closed)
    }

    // MARK: Growing cooldowns

    /// Trips on any failure, probes once: each failed probe grows the cooldown.
    func growingBreaker(
        _ clock: ManualClock,
        maxCooldown: Duration = .seconds(50),
        multiplier: Double? = nil,
        jitter: Double = 0,
        seed: UInt64 = 1
    ) throws -> CircuitBreakerPolicy {
        try CircuitBreakerPolicy(
            cooldown: .seconds(10),
            failureThreshold: Fraction(1, 1),
            successThreshold: Fraction(1, 1),
            maxCooldown: maxCooldown,
            cooldownMultiplier: multiplier,
            cooldownJitter: jitter,
            clock: clock,
            generator: SeededGenerator(seed: seed)
        )
    }

    @Test func cooldownDoublesAfterEachFailedHalfOpenUpToTheMaximumAndResetsOnClose() throws {
        let clock = ManualClock()
        let breaker = try growingBreaker(clock)
        drive(breaker, taking: .zero, on: clock, fails: true)
        var cooldowns: [Duration] = []
        for _ in 0..<5 {
            let wait = try #require(rejectionRetryAfter(breaker))
            cooldowns.append(wait)
            clock.advance(by: wait)
            drive(breaker, taking: .zero, on: clock, fails: true)
        }
        #expect(cooldowns == [.seconds(10), .seconds(20), .seconds(40), .seconds(50), .seconds(50)])
        #expect(breaker.currentCooldown == .seconds(50))

        clock.advance(by: .seconds(50))
        drive(breaker, taking: .zero, on: clock)
        #expect(breaker.state == .closed)
        #expect(breaker.currentCooldown == .seconds(10), "closing returns the cooldown to its start")
        drive(breaker, taking: .zero, on: clock, fails: true)
        #expect(rejectionRetryAfter(breaker) == .seconds(10))
    }

    @Test func cooldownOneTickBeforeItsEndStillRejects() throws {
        let clock = ManualClock()
        let breaker = try growingBreaker(clock)
        drive(breaker, taking: .zero, on: clock, fails: true)
        clock.advance(by: .seconds(10))
        drive(breaker, taking: .zero, on: clock, fails: true)
        clock.advance(by: .seconds(20) - .nanoseconds(1))
        #expect(rejectionRetryAfter(breaker) == .nanoseconds(1), "the grown cooldown is 20 s")
        clock.advance(by: .nanoseconds(1))
        #expect(rejectionRetryAfter(breaker) == nil)
    }

    @Test func aMultiplierOfThreeTriples() throws {
        let clock = ManualClock()
        let breaker = try growingBreaker(clock, maxCooldown: .seconds(100), multiplier: 3)
        drive(breaker, taking: .zero, on: clock, fails: true)
        var cooldowns: [Duration] = []
        for _ in 0..<4 {
            let wait = try #require(rejectionRetryAfter(breaker))
            cooldowns.append(wait)
            clock.advance(by: wait)
            drive(breaker, taking: .zero, on: clock, fails: true)
        }
        #expect(cooldowns == [.seconds(10), .seconds(30), .seconds(90), .seconds(100)])
    }

    @Test func aMultiplierWithoutAMaximumIsRefused() {
        #expect(throws: BreakerPolicyError.self) {
            try CircuitBreakerPolicy(failureThreshold: Fraction(1, 2), cooldownMultiplier: 2)
        }
    }

    // MARK: Jitter

    /// Trips and closes `rounds` times, returning each open period's length.
    func openPeriods(_ breaker: CircuitBreakerPolicy, clock: ManualClock, rounds: Int) throws -> [Duration] {
        var periods: [Duration] = []
        for _ in 0..<rounds {
            drive(breaker, taking: .zero, on: clock, fails: true)
            let wait = try #require(rejectionRetryAfter(breaker))
            periods.append(wait)
            clock.advance(by: wait)
            drive(breaker, taking: .zero, on: clock)
        }
        return periods
    }

    @Test func jitterStaysWithinItsBoundsAndSpreadsOverThem() throws {
        let clock = ManualClock()
        let breaker = try growingBreaker(clock, maxCooldown: .seconds(10), jitter: 0.25, seed: 42)
        let periods = try openPeriods(breaker, clock: clock, rounds: 300)
        let low = Duration.milliseconds(7_500)
        let high = Duration.milliseconds(12_500)
        #expect(periods.allSatisfy { $0 >= low && $0 <= high }, "10 s ± 25 %")
        #expect(try #require(periods.min()) < .seconds(8), "the draws reach near the lower bound")
        #expect(try #require(periods.max()) > .seconds(12), "the draws reach near the upper bound")
        #expect(Set(periods).count > 250, "the draws differ")
    }

    @Test func jitterScalesTheGrownCooldown() throws {
        let clock = ManualClock()
        let breaker = try growingBreaker(clock, maxCooldown: .seconds(40), jitter: 0.5, seed: 7)
        drive(breaker, taking: .zero, on: clock, fails: true)
        for base in [10, 20, 40, 40] {
            let wait = try #require(rejectionRetryAfter(breaker))
            #expect(wait >= .seconds(base) / 2 && wait <= .seconds(base) * 3 / 2, "\(wait) is \(base) s ± 50 %")
            clock.advance(by: wait)
            drive(breaker, taking: .zero, on: clock, fails: true)
        }
    }

    @Test func theSameSeedDrawsTheSameCooldowns() throws {
        func periods(seed: UInt64) throws -> [Duration] {
            let clock = ManualClock()
            let breaker = try growingBreaker(clock, maxCooldown: .seconds(10), jitter: 1, seed: seed)
            return try openPeriods(breaker, clock: clock, rounds: 20)
        }
        #expect(try periods(seed: 3) == periods(seed: 3))
        #expect(try periods(seed: 3) != periods(seed: 4))
        #expect(try periods(seed: 3).allSatisfy { $0 >= .zero && $0 <= .seconds(20) }, "jitter 1: 0 to 2×")
    }

    @Test func noJitterMeansTheExactCooldown() throws {
        let clock = ManualClock()
        let breaker = try growingBreaker(clock, maxCooldown: .seconds(10), jitter: 0, seed: 9)
        #expect(try openPeriods(breaker, clock: clock, rounds: 5) == Array(repeating: .seconds(10), count: 5))
    }

    // MARK: Shadow mode

    final class ShadowLog: Sendable {
        private let states = Mutex<[BreakerState]>([])
        var recorded: [BreakerState] { states.withLock { $0 } }
        func handler() -> CircuitBreakerPolicy.ShadowRejectionHandler {
            { _, state in self.states.withLock { $0.append(state) } }
        }
    }

    @Test func shadowModeNeverRejectsAndSaysWhatEnforceWouldHaveDone() throws {
        let clock = ManualClock()
        let log = TransitionLog()
        let shadow = ShadowLog()
        let breaker = try CircuitBreakerPolicy(
            cooldown: .seconds(10),
            failureThreshold: Fraction(1, 1),
            mode: .shadow,
            onStateChange: log.handler(),
            onShadowRejection: shadow.handler(),
            clock: clock
        )
        let ran = Counter()
        drive(breaker, taking: .zero, on: clock, fails: true)
        #expect(breaker.state == .open)
        for _ in 0..<3 { try breaker.runBlocking { ran.bump() } }
        #expect(ran.count == 3, "open, yet every call runs")
        #expect(breaker.history == [.failure], "the calls enforce mode would have rejected are not counted")

        clock.advance(by: .seconds(10))
        let probe = try breaker.acquire()
        #expect(probe != nil, "half-open grants its probe permit as enforce mode does")
        #expect(try breaker.acquire() == nil, "the second call runs without a permit")
        breaker.complete(.success, permit: probe)
        #expect(breaker.state == .closed)

        breaker.force(.open)
        try breaker.runBlocking { ran.bump() }
        #expect(ran.count == 4, "even forced open")
        #expect(shadow.recorded == [.open, .open, .open, .halfOpen, .forcedOpen])
        #expect(breaker.shadowRejectionCount == 5)
        #expect(log.pairs == ["closed->open", "open->half_open", "half_open->closed", "closed->forced_open"])
    }

    @Test func shadowTransitionsMatchEnforceOnTheSameTrace() throws {
        // Each step: fail or succeed, then advance the clock by the seconds given.
        let trace: [(fails: Bool, advance: Int)] = [
            (false, 0), (true, 0), (true, 1), (false, 5), (true, 0), (false, 10), (true, 0), (true, 10),
            (false, 0), (false, 0), (true, 3), (true, 0), (false, 30), (false, 0),
        ]
        func transitions(_ mode: BreakerPolicy.Mode) throws -> (pairs: [String], shadowRejections: Int) {
            let clock = ManualClock()
            let log = TransitionLog()
            let breaker = try CircuitBreakerPolicy(
                cooldown: .seconds(10),
                failureThreshold: Fraction(2, 3),
                successThreshold: Fraction(2, 2),
                maxCooldown: .seconds(20),
                mode: mode,
                onStateChange: log.handler(),
                clock: clock
            )
            for step in trace {
                drive(breaker, taking: .zero, on: clock, fails: step.fails)
                clock.advance(by: .seconds(step.advance))
            }
            return (log.pairs, breaker.shadowRejectionCount)
        }
        let enforce = try transitions(.enforce)
        let shadow = try transitions(.shadow)
        #expect(enforce.pairs.count >= 4, "the trace trips and probes")
        #expect(shadow.pairs == enforce.pairs)
        #expect(enforce.shadowRejections == 0)
        #expect(shadow.shadowRejections > 0)
    }
    @Test func theReadmeExampleBuilds() throws {
        let search = try CircuitBreakerPolicy(
            cooldown: .seconds(10),
            failureThreshold: Fraction(5, 20),
            slowCallDuration: .milliseconds(800),
            slowCallThreshold: Fraction(10, 20),
            maxCooldown: .seconds(600),
            cooldownMultiplier: 2,
            cooldownJitter: 0.2,
            mode: .shadow,
            onShadowRejection: { _, state in print("enforce mode would have rejected this call (\(state))") }
        )
        #expect(search.shadowRejectionCount == 0 && search.currentCooldown == .seconds(10))
        #expect(search.policy.mode == .shadow && search.policy.cooldownGrowth?.maximum == .seconds(600))
    }
}
