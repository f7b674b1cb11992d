import BreakerCore
import Testing

/// What a hostile client can send, at the edges: the largest counts the protocol accepts (2^31 − 1 per report),
/// every window shape the policy allows (count windows of 1 to 100,000; time windows of 1 ms to 30 days in 1 to
/// 1,000 buckets), and clocks that jump by 30 days or sit near the ends of Int64. Nothing may trap, and the
/// invariants hold after every step.
@Suite struct ExtremeInputTests {
    typealias SplitMix = RandomizedInvariantTests.SplitMix

    static let days30 = Duration.seconds(30 * 24 * 3600)
    static let int32Max = Int(Int32.max)

    static let windows: [BreakerPolicy.Window] = [
        .count(size: 1),
        .count(size: 5),
        .count(size: 100_000),
        .time(duration: .milliseconds(1), buckets: 1),
        .time(duration: days30, buckets: 1),
        .time(duration: .seconds(1), buckets: 1_000),
        .time(duration: days30, buckets: 1_000),
    ]

    /// Policies over every window: the loosest and the tightest thresholds, few and many probes, no cooldown and
    /// the longest one.
    static func policies(_ window: BreakerPolicy.Window) throws -> [BreakerPolicy] {
        let size = if case .count(let size) = window { size } else { 100_000 }
        return [
            try BreakerPolicy(
                failureThreshold: Fraction(1, size),
                cooldown: .zero,
                window: window,
                minimumCalls: 1,
                halfOpenPermits: 1,
                permitTTL: .nanoseconds(1)
            ),
            try BreakerPolicy(
                failureThreshold: Fraction(size, size),
                successThreshold: Fraction(10_000, 10_000),
                cooldown: days30,
                window: window,
                halfOpenPermits: 10_000,
                permitTTL: days30
            ),
            try BreakerPolicy(
                failureThreshold: Fraction(1, 2),
                successThreshold: Fraction(1, 3),
                cooldown: .milliseconds(1),
                window: window,
                minimumCalls: size,
                halfOpenPermits: 3,
                permitTTL: .milliseconds(1)
            ),
        ]
    }

    /// Counts a report may carry: none, one, a few, and the protocol's largest.
    static let counts = [0, 0, 1, 1, 2, 3, int32Max, int32Max]

    /// How far the clock moves between steps (ns): not at all, by a tick, a bucket, a window, 30 days, centuries.
    static let jumps: [Int64] = [
        0, 0, 0, 1, 1, 1_000, 1_000_000, 999_999_999, 1_000_000_000, 2_592_000_000_000_000, 1 << 62,
    ]

    /// Instants the clock may be set to outright: the ends of Int64 and around zero.
    static let instants: [Int64] = [.min, .min + 1, -1, 0, 1, .max - 1_000_000_000, .max - 1, .max]

    @Test(arguments: 0..<windows.count)
    func nothingTrapsAndTheInvariantsHold(windowIndex: Int) throws {
        let window = Self.windows[windowIndex]
        let policies = try Self.policies(window)
        let bigCountWindow = (policies[0].countWindowSize ?? 0) > 1_000
        let steps = bigCountWindow ? 1_500 : 6_000
        for (policyIndex, policy) in policies.enumerated() {
            for seed in UInt64(1)...3 {
                var rng = SplitMix(state: seed &* 0x9E37 &+ UInt64(windowIndex * 16 + policyIndex))
                var now = MonotonicInstant(nanoseconds: 1_000_000_000_000)
                var m = BreakerStateMachine(policy: policy, now: now)
                var held: [Permit] = []
                var generation = m.generation
                for step in 0..<steps {
                    let context = "window \(windowIndex) policy \(policyIndex) seed \(seed) step \(step)"
                    if Int.random(in: 0..<100, using: &rng) == 0 {
                        now = MonotonicInstant(nanoseconds: Self.instants.randomElement(using: &rng)!)
                    } else {
                        now = now + .nanoseconds(Self.jumps.randomElement(using: &rng)!)
                    }
                    var transitions: [BreakerTransition] = []
                    switch Int.random(in: 0..<100, using: &rng) {
                    case 0..<25:
                        let d = m.acquire(now: now)
                        transitions = d.transitions
                        if let permit = d.permit { held.append(permit) }
                        #expect((d.retryAfter ?? .zero) >= .zero, "\(context)")
                    case 25..<45:
                        let outcome: Outcome = [.success, .failure, .failure, .ignored].randomElement(using: &rng)!
                        let permit: Permit?
                        switch Int.random(in: 0..<4, using: &rng) {
                        case 0: permit = nil
                        case 1: permit = Permit(generation: .max, sequence: .max)
                        default: permit = held.isEmpty ? nil : held.removeFirst()
                        }
                        transitions = m.report(outcome, permit: permit, now: now).transitions
                    case 45..<80:
                        // Bulk reports; repeated thousands of times over a run.
                        let successes = Self.counts.randomElement(using: &rng)!
                        let failures = Self.counts.randomElement(using: &rng)!
                        transitions = m.record(successes: successes, failures: failures, now: now).transitions
                    case 80..<85:
                        let ttl: Duration? = [nil, .nanoseconds(1), .milliseconds(1), Self.days30]
                            .randomElement(using: &rng)!
                        let target: BreakerForce.Target = Bool.random(using: &rng) ? .open : .closed
                        transitions = [m.force(target, ttl: ttl, reason: "r", by: "b", now: now)]
                    case 85..<88:
                        transitions = [m.release(now: now)].compactMap { $0 }
                    case 88..<90:
                        transitions = [m.reset(now: now)]
                    case 90..<92:
                        let next = policies.randomElement(using: &rng)!
                        transitions = [m.configure(next, now: now)].compactMap { $0 }
                    default:
                        transitions = [m.expire(now: now)].compactMap { $0 }
                    }

                    for t in transitions {
                        #expect(t.generation == generation + 1, "\(context)")
                        generation = t.generation
                    }
                    #expect(m.generation == generation, "\(context)")
                    let (calls, failures) = m.window.totals(now: now)
                    #expect(0 <= failures && failures <= calls, "\(context): \(failures)/\(calls)")
                    if let size = m.policy.countWindowSize { #expect(calls <= size, "\(context)") }
                    let (out, successes, probeFailures) = m.halfOpenCounts
                    #expect(out + successes + probeFailures <= m.policy.halfOpenPermits, "\(context)")
                    if m.state != .halfOpen { #expect(out == 0 && successes == 0 && probeFailures == 0, "\(context)") }
                    #expect((m.force != nil) == m.state.isForced, "\(context)")
                    if let wait = m.retryAfter(now: now) { #expect(wait >= .zero, "\(context)") }
                    if step % 50 == 0 {
                        // What the store keeps reads back with the same totals.
                        let text = m.window.encoded(now: now)
                        #expect(OutcomeWindow.fits(text, shape: m.policy.window), "\(context)")
                        let back = try #require(
                            OutcomeWindow(m.policy.window, decoding: text, now: now, elapsed: .zero)
                        )
                        #expect(back.totals(now: now) == (calls, failures), "\(context)")
                    }
                }
            }
        }
    }

    /// A report of many outcomes into a count window (pushed a word at a time) leaves exactly the window that
    /// pushing them one by one leaves.
    @Test(arguments: [1, 5, 63, 64, 65, 130, 1_000])
    func bulkCountsMatchOneByOne(size: Int) {
        var rng = SplitMix(state: UInt64(size))
        var bulk = OutcomeWindow(.count(size: size))
        var single = bulk
        let now = at(0)
        for step in 0..<400 {
            let successes = [0, 1, 9, size - 1, size, size + 1, Int.random(in: 0...(2 * size), using: &rng)]
                .randomElement(using: &rng)!
            let failures = [0, 1, 9, size - 1, size, Int.random(in: 0...(2 * size), using: &rng)]
                .randomElement(using: &rng)!
            bulk.record(successes: successes, failures: failures, now: now)
            for _ in 0..<min(max(0, successes), size) { single.record(successes: 1, failures: 0, now: now) }
            for _ in 0..<min(max(0, failures), size) { single.record(successes: 0, failures: 1, now: now) }
            #expect(bulk == single, "size \(size) step \(step): +\(successes)S +\(failures)F")
            #expect(bulk.outcomes == single.outcomes && bulk.totals(now: now) == single.totals(now: now))
            if step % 97 == 0 {
                bulk.removeAll()
                single.removeAll()
            }
        }
    }

    /// Counters that reached the top stay there: totals saturate at Int.max instead of trapping, failures never
    /// pass calls, and one outcome below the top still counts exactly.
    @Test(arguments: [1, 1_000])
    func timeWindowCountsSaturateAtTheTop(buckets: Int) throws {
        let shape = BreakerPolicy.Window.time(duration: Self.days30, buckets: buckets)
        let now = MonotonicInstant(nanoseconds: 5_000_000_000_000)
        let near = Int.max - 10
        var w = try #require(OutcomeWindow(shape, decoding: "t:0,\(near),\(near - 5)", now: now, elapsed: .zero))
        w.record(successes: 4, failures: 1, now: now)
        #expect(w.totals(now: now) == (Int.max - 5, Int.max - 14), "below the top: exact")
        w.record(successes: 4, failures: 1, now: now)
        #expect(w.totals(now: now) == (Int.max, Int.max - 13), "one past the top: saturated, failures still exact")
        for _ in 0..<5_000 { w.record(successes: Self.int32Max, failures: Self.int32Max, now: now) }
        #expect(w.totals(now: now) == (Int.max, Int.max))
        w.record(successes: -5, failures: .min, now: now)
        #expect(w.totals(now: now) == (Int.max, Int.max), "negative counts add nothing")

        // Every bucket at the top: the sum over the window saturates too.
        let full = "t:" + (0..<buckets).map { "\($0),\(Int64.max),\(Int64.max)" }.joined(separator: ";")
        var all = try #require(OutcomeWindow(shape, decoding: full, now: now, elapsed: .zero))
        all.record(successes: Self.int32Max, failures: Self.int32Max, now: now)
        #expect(all.totals(now: now) == (Int.max, Int.max))
        #expect(OutcomeWindow.fits(all.encoded(now: now), shape: shape))
    }

    /// A breaker whose window is full to the top still trips and decides exactly.
    @Test func aSaturatedWindowStillTrips() throws {
        let shape = BreakerPolicy.Window.time(duration: Self.days30, buckets: 1_000)
        let policy = try BreakerPolicy(failureThreshold: Fraction(1, 2), window: shape, minimumCalls: 10)
        let now = MonotonicInstant(nanoseconds: 5_000_000_000_000)
        let window = OutcomeWindow(shape, decoding: "t:0,\(Int64.max),0;1,\(Int64.max),0", now: now, elapsed: .zero)
        var m = BreakerStateMachine(
            restoring: .closed,
            policy: policy,
            generation: 7,
            changedAt: now,
            openUntil: now,
            force: nil,
            window: window,
            nextPermitSequence: 1
        )
        #expect(m.record(successes: 0, failures: Self.int32Max, now: now).transitions.isEmpty)
        #expect(m.state == .closed)
        #expect(m.record(successes: Self.int32Max, failures: Self.int32Max, now: now).transitions.isEmpty)
        #expect(m.window.totals(now: now).calls == Int.max)
    }

    /// Generations and permit sequences stored close to the top stop there instead of wrapping to 0 (where an
    /// old permit could match again) or trapping.
    @Test func generationAndPermitSequenceStopAtTheTop() throws {
        let policy = try BreakerPolicy(failureThreshold: Fraction(1, 1), cooldown: .zero, halfOpenPermits: 1)
        let now = MonotonicInstant(nanoseconds: 1_000)
        let top = BreakerStateMachine.maximumCounter
        #expect(top == UInt64(Int64.max))
        var m = BreakerStateMachine(
            restoring: .open,
            policy: policy,
            generation: top - 2,
            changedAt: now,
            openUntil: now,
            force: nil,
            window: nil,
            nextPermitSequence: top - 1
        )
        let probe = m.acquire(now: now)
        #expect(probe.transitions.map(\.generation) == [top - 1])
        #expect(probe.permit == Permit(generation: top - 1, sequence: top - 1))
        #expect(m.nextPermitSequence == top)
        _ = m.report(.failure, permit: probe.permit, now: now)
        #expect(m.generation == top, "half_open → open reaches the top exactly")
        for _ in 0..<3 {
            let again = m.acquire(now: now)
            #expect(again.permit?.sequence == top)
            #expect(m.generation == top)
            _ = m.report(.failure, permit: again.permit, now: now)
        }
        #expect(m.generation == top && m.nextPermitSequence == top)

        var beyond = BreakerStateMachine(
            restoring: .closed,
            policy: policy,
            generation: .max,
            changedAt: now,
            openUntil: now,
            force: nil,
            window: nil,
            nextPermitSequence: .max
        )
        #expect(beyond.reset(now: now).generation == .max, "a value past the top is left as it is")
        _ = beyond.force(.open, ttl: nil, reason: nil, by: nil, now: now)
        _ = beyond.release(now: now)
        #expect(beyond.generation == .max)
    }

    /// Instants at the ends of Int64: durations between them saturate instead of wrapping to the wrong sign.
    @Test func instantsAtTheEndsDoNotWrap() {
        let low = MonotonicInstant(nanoseconds: .min)
        let high = MonotonicInstant(nanoseconds: .max)
        #expect(high - low == .nanoseconds(Int64.max))
        #expect(low - high == .nanoseconds(Int64.min))
        #expect(at(5) - at(2) == .milliseconds(3), "ordinary instants: exact")
        #expect(high + .seconds(1) == high)
        #expect(low + .seconds(-1) == low)
    }

    /// Window text that was not written by `encoded` (or was damaged): refused, or read without trapping.
    @Test func damagedWindowTextIsRefusedWithoutTrapping() {
        let time = BreakerPolicy.Window.time(duration: .seconds(60), buckets: 60)
        let count = BreakerPolicy.Window.count(size: 5)
        let now = at(0)
        for bad in [
            "t:1,2", "t:0,1,2", "t:-1,2,1", "t:0,x,1", "t:0,2,1,4", "t:0,,0", "c:SFX", "c:", "x:", "",
            "t:\(Int64.max),\(Int64.max),0", "t:0,\(Int64.max),\(Int64.max)",
        ] {
            let fitsTime = OutcomeWindow.fits(bad, shape: time)
            let fitsCount = OutcomeWindow.fits(bad, shape: count)
            #expect(fitsTime == (OutcomeWindow(time, decoding: bad, now: now, elapsed: .seconds(5)) != nil), "\(bad)")
            #expect(fitsCount == (OutcomeWindow(count, decoding: bad, now: now, elapsed: .zero) != nil), "\(bad)")
        }
        #expect(!OutcomeWindow.fits("t:0,1,2", shape: time), "more failures than calls")
        #expect(!OutcomeWindow.fits("c:SF", shape: time) && !OutcomeWindow.fits("t:", shape: count))
        #expect(OutcomeWindow.fits("c:", shape: count) && OutcomeWindow.fits("t:", shape: time))
        let aged = OutcomeWindow(time, decoding: "t:\(Int64.max),5,1", now: now, elapsed: .seconds(1_000))
        #expect(aged.map { $0.totals(now: now) == (0, 0) } == true, "a bucket aged past the end is dropped")
    }

    /// Durations on command lines too long for Int64 milliseconds are refused, not trapped on.
    @Test func hugeDurationTextIsRefused() {
        #expect(DurationText.parse("9223372036854775807d") == nil)
        #expect(DurationText.parse("106751991168d") == nil, "one day more than Int64.max ms")
        #expect(DurationText.parse("106751991167d") == .seconds(Int64(106_751_991_167) * 86_400))
        #expect(DurationText.parse("9223372036854775807ms1ms") == nil)
        #expect(DurationText.parse("1d2h3m4s5ms") == .milliseconds(93_784_005))
    }
}
