import BreakerCore
import Testing

/// Issue #16's rules, each on both sides of its edge: slow calls, growing cooldowns with jitter, shadow mode, and
/// the failing-client quorum.
@Suite struct OutagePolicyTests {
    static func outagePolicy(
        _ failure: String = "5/5",
        window: BreakerPolicy.Window? = nil,
        minimumCalls: Int? = nil,
        cooldownMs: Int64 = 1_000,
        permits: Int? = 1,
        slow: (ms: Int64, threshold: String)? = nil,
        cooldownMaxMs: Int64? = nil,
        multiplier: Double? = nil,
        jitter: Double = 0,
        mode: BreakerPolicy.Mode = .enforce,
        minFailingClients: Int = 1
    ) throws -> BreakerPolicy {
        try BreakerPolicy(
            failureThreshold: Fraction(parsing: failure)!,
            cooldown: .milliseconds(cooldownMs),
            window: window,
            minimumCalls: minimumCalls,
            halfOpenPermits: permits,
            slowCallDuration: slow.map { .milliseconds($0.ms) },
            slowCallThreshold: slow.map { Fraction(parsing: $0.threshold)! },
            cooldownMaximum: cooldownMaxMs.map { .milliseconds($0) },
            cooldownMultiplier: multiplier,
            cooldownJitter: jitter,
            mode: mode,
            minFailingClients: minFailingClients
        )
    }

    // MARK: Validation

    @Test func invalidCombinationsNameTheirField() {
        func field(_ make: () throws -> BreakerPolicy) -> String? {
            do {
                _ = try make()
                return nil
            } catch {
                return (error as? BreakerPolicyError)?.field ?? "\(error)"
            }
        }
        let f = Fraction(1, 2)
        #expect(
            field { try BreakerPolicy(failureThreshold: f, slowCallDuration: .seconds(1)) } == "slow_call_threshold"
        )
        #expect(field { try BreakerPolicy(failureThreshold: f, slowCallThreshold: f) } == "slow_call_ms")
        #expect(
            field { try BreakerPolicy(failureThreshold: f, slowCallDuration: .zero, slowCallThreshold: f) }
                == "slow_call_ms"
        )
        #expect(
            field {
                try BreakerPolicy(failureThreshold: f, slowCallDuration: .seconds(1), slowCallThreshold: Fraction(3, 2))
            } == "slow_call_threshold"
        )
        #expect(field { try BreakerPolicy(failureThreshold: f, cooldownMultiplier: 2) } == "cooldown_multiplier")
        #expect(
            field { try BreakerPolicy(failureThreshold: f, cooldown: .seconds(10), cooldownMaximum: .seconds(5)) }
                == "cooldown_max_ms"
        )
        for bad in [0.99, 10.01, .nan, .infinity] {
            #expect(
                field { try BreakerPolicy(failureThreshold: f, cooldownMaximum: .seconds(60), cooldownMultiplier: bad) }
                    == "cooldown_multiplier"
            )
        }
        for bad in [-0.01, 1.01, .nan] {
            #expect(field { try BreakerPolicy(failureThreshold: f, cooldownJitter: bad) } == "cooldown_jitter")
        }
        for bad in [0, 1_001] {
            #expect(field { try BreakerPolicy(failureThreshold: f, minFailingClients: bad) } == "min_failing_clients")
        }
        #expect(field { try BreakerPolicy(failureThreshold: f, cooldownMaximum: .seconds(60)) } == nil)
        #expect(
            (try? BreakerPolicy(failureThreshold: f, cooldownMaximum: .seconds(60)))?.cooldownGrowth?.multiplier == 2
        )
    }

    @Test func storageTextRoundTripsEveryField() throws {
        let p = try Self.outagePolicy(
            slow: (250, "3/10"),
            cooldownMaxMs: 60_000,
            multiplier: 3.5,
            jitter: 0.25,
            mode: .shadow,
            minFailingClients: 3
        )
        #expect(BreakerPolicy(encoded: p.encoded) == p)
        #expect(p.encoded.contains(";sd=250;st=3/10;cx=60000;cm=3.5;cj=0.25;md=shadow;mc=3"))
        // A policy without the new fields writes none of them (old text stays byte-identical).
        let plain = try policy("2/5")
        #expect(plain.encoded == "v=1;f=2/5;c=30000;w=count:5;m=5;p=5;t=10000")
    }

    // MARK: Slow calls

    @Test func slowRatioJustUnderTheThresholdDoesNotTripAndAtItDoes() throws {
        // 3/10 slow trips; failures never reach 5/5.
        let p = try Self.outagePolicy("5/5", window: .count(size: 10), slow: (100, "3/10"))
        var m = BreakerStateMachine(policy: p, now: at(0))
        for _ in 0..<8 { _ = m.report(.success, permit: nil, slow: false, now: at(1)) }
        for _ in 0..<2 { _ = m.report(.success, permit: nil, slow: true, now: at(1)) }
        #expect(m.state == .closed && m.window.slowCount(now: at(1)) == 2)
        // Window full: 2/10 slow, under. The next slow success pushes out a fast one: 3/10 → open.
        let r = m.report(.success, permit: nil, slow: true, now: at(2))
        #expect(m.state == .open)
        #expect(r.transitions.map(\.cause) == [.slowCallThreshold])
        // A slow failure counts as slow too.
        var n = BreakerStateMachine(policy: p, now: at(0))
        _ = n.record(successes: 7, failures: 0, now: at(1))
        _ = n.record(successes: 0, failures: 3, slow: 3, now: at(1))
        #expect(n.state == .open)
    }

    @Test func slowRuleNeedsMinimumCallsAndIgnoresSlowWithoutARule() throws {
        let p = try Self.outagePolicy("5/5", window: .count(size: 10), minimumCalls: 4, slow: (100, "1/2"))
        var m = BreakerStateMachine(policy: p, now: at(0))
        _ = m.record(successes: 3, failures: 0, slow: 3, now: at(1))
        #expect(m.state == .closed)  // 3 calls < minimumCalls 4
        _ = m.record(successes: 1, failures: 0, slow: 1, now: at(1))
        #expect(m.state == .open)
        // Without a slow rule, slow marks are not kept.
        var plain = BreakerStateMachine(policy: try Self.outagePolicy(), now: at(0))
        _ = plain.record(successes: 10, failures: 0, slow: 10, now: at(1))
        #expect(plain.state == .closed && plain.window.slowCount(now: at(1)) == 0)
    }

    @Test func slowCountsInATimeWindowExpireWithTheirBucket() throws {
        let p = try Self.outagePolicy(
            "5/5",
            window: .time(duration: .seconds(10), buckets: 10),
            minimumCalls: 4,
            slow: (100, "3/4")
        )
        var m = BreakerStateMachine(policy: p, now: at(0))
        _ = m.record(successes: 2, failures: 0, slow: 2, now: at(0))
        #expect(m.window.slowCount(now: at(5_000)) == 2)
        #expect(m.window.slowCount(now: at(10_500)) == 0)
        _ = m.record(successes: 4, failures: 0, slow: 2, now: at(10_500))
        #expect(m.state == .closed)  // 2/4 slow
        _ = m.record(successes: 0, failures: 0, slow: 0, now: at(10_600))
        _ = m.record(successes: 1, failures: 0, slow: 1, now: at(10_700))
        #expect(m.state == .closed)  // 3/5 slow < 3/4
        _ = m.record(successes: 3, failures: 0, slow: 3, now: at(10_800))
        #expect(m.state == .open)  // 6/8 = 3/4
    }

    @Test func aSlowProbeCountsAsAFailedProbe() throws {
        let p = try Self.outagePolicy("1/1", slow: (100, "1/1"))
        var m = BreakerStateMachine(policy: p, now: at(0))
        m.trip(now: at(0))
        let d = m.acquire(now: at(1_000))
        let permit = try #require(d.permit)
        let r = m.report(.success, permit: permit, slow: true, now: at(1_001))
        #expect(r.transitions.map(\.cause) == [.probesFailed])
    }

    // MARK: Growing cooldown

    @Test func cooldownGrowsOnEachFailedHalfOpenIsCappedAndResetsOnClose() throws {
        let p = try Self.outagePolicy("1/1", cooldownMs: 1_000, cooldownMaxMs: 5_000, multiplier: 2)
        var m = BreakerStateMachine(policy: p, now: at(0))
        var now: Int64 = 0
        m.trip(now: at(now))
        var cooldowns: [Int64] = []
        for _ in 0..<5 {
            cooldowns.append((m.openUntil - m.changedAt).millisecondsRoundedUp)
            #expect(m.acquire(now: at(now + cooldowns.last! - 1)).allowed == false)  // 1 ms early: still open
            now += cooldowns.last!
            let permit = try #require(m.acquire(now: at(now)).permit)
            _ = m.report(.failure, permit: permit, now: at(now))
            #expect(m.state == .open)
        }
        cooldowns.append((m.openUntil - m.changedAt).millisecondsRoundedUp)
        #expect(cooldowns == [1_000, 2_000, 4_000, 5_000, 5_000, 5_000])
        #expect(m.currentCooldown == .milliseconds(5_000))
        // A successful probe closes: back to 1×.
        now += 5_000
        let permit = try #require(m.acquire(now: at(now)).permit)
        _ = m.report(.success, permit: permit, now: at(now))
        #expect(m.state == .closed && m.currentCooldown == .milliseconds(1_000))
        m.trip(now: at(now))
        #expect(m.openUntil - m.changedAt == .milliseconds(1_000))
    }

    @Test func aFixedCooldownNeverGrows() throws {
        var m = BreakerStateMachine(policy: try Self.outagePolicy("1/1", cooldownMs: 1_000), now: at(0))
        m.trip(now: at(0))
        var now: Int64 = 0
        for _ in 0..<3 {
            now += 1_000
            let permit = try #require(m.acquire(now: at(now)).permit)
            _ = m.report(.failure, permit: permit, now: at(now))
            #expect(m.openUntil - m.changedAt == .milliseconds(1_000))
        }
    }

    @Test func jitterStaysWithinItsBoundsAndDependsOnTheSeed() throws {
        let p = try Self.outagePolicy("1/1", cooldownMs: 10_000, jitter: 0.2)
        var seen: [Duration] = []
        for seed in UInt64(1)...200 {
            var m = BreakerStateMachine(policy: p, now: at(0), randomSeed: seed)
            m.trip(now: at(0))
            let cooldown = m.openUntil - m.changedAt
            #expect(cooldown >= .milliseconds(8_000) && cooldown <= .milliseconds(12_000), "seed \(seed)")
            seen.append(cooldown)
        }
        // Spread over the range, not one value; the same seed gives the same cooldown.
        #expect(seen.min()! < .milliseconds(8_400) && seen.max()! > .milliseconds(11_600))
        var again = BreakerStateMachine(policy: p, now: at(0), randomSeed: 7)
        again.trip(now: at(0))
        #expect(again.openUntil - again.changedAt == seen[6])
    }

    // MARK: Shadow mode

    @Test func shadowNeverRejectsAndSaysWhatEnforceWouldHaveDone() throws {
        let p = try Self.outagePolicy("2/2", cooldownMs: 1_000, mode: .shadow)
        var m = BreakerStateMachine(policy: p, now: at(0))
        _ = m.feed([F, F], now: at(0))
        #expect(m.state == .open)
        let d = m.acquire(now: at(10))
        #expect(d.allowed && !d.wouldAllow && d.permit == nil && d.retryAfter == nil)
        // Outcomes of calls enforce mode would have rejected are not counted.
        #expect(m.report(.failure, permit: nil, now: at(11)).counted == false)
        _ = m.force(.open, ttl: nil, reason: nil, by: nil, now: at(12))
        let forced = m.acquire(now: at(13))
        #expect(forced.allowed && !forced.wouldAllow)
        #expect(m.reset(now: at(14)).shadow)
    }

    /// The same trace through an enforce machine and a shadow one: the same transitions, states and windows;
    /// every rejection of the one is an allowance with `wouldAllow: false` of the other.
    @Test(arguments: UInt64(1)...6)
    func shadowTransitionsMatchEnforceOnTheSameTrace(seed: UInt64) throws {
        var rng = RandomizedInvariantTests.SplitMix(state: seed)
        let enforce = try Self.outagePolicy("2/4", cooldownMs: 30, permits: 2, slow: (50, "3/4"), cooldownMaxMs: 200)
        let shadow = try Self.outagePolicy(
            "2/4",
            cooldownMs: 30,
            permits: 2,
            slow: (50, "3/4"),
            cooldownMaxMs: 200,
            mode: .shadow
        )
        var a = BreakerStateMachine(policy: enforce, now: at(0))
        var b = BreakerStateMachine(policy: shadow, now: at(0))
        var held: [Permit] = []
        var now: Int64 = 0
        for step in 0..<3_000 {
            now += Int64.random(in: 0...5, using: &rng)
            let t = at(now)
            var ta: [BreakerTransition] = []
            var tb: [BreakerTransition] = []
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<4:
                let da = a.acquire(now: t)
                let db = b.acquire(now: t)
                #expect(db.allowed, "step \(step)")
                #expect(db.wouldAllow == da.allowed && db.permit == da.permit, "step \(step)")
                if let permit = da.permit { held.append(permit) }
                (ta, tb) = (da.transitions, db.transitions)
            case 4..<9:
                let outcome: Outcome = Bool.random(using: &rng) ? .success : .failure
                let slow = Int.random(in: 0..<3, using: &rng) == 0
                let permit = held.isEmpty || Bool.random(using: &rng) ? nil : held.removeFirst()
                ta = a.report(outcome, permit: permit, slow: slow, now: t).transitions
                tb = b.report(outcome, permit: permit, slow: slow, now: t).transitions
            default:
                (ta, tb) = ([a.expire(now: t)].compactMap { $0 }, [b.expire(now: t)].compactMap { $0 })
            }
            #expect(ta.map(\.cause) == tb.map(\.cause) && ta.map(\.generation) == tb.map(\.generation), "step \(step)")
            #expect(tb.allSatisfy(\.shadow) && !ta.contains(where: \.shadow))
            #expect(a.state == b.state && a.window.totals(now: t) == b.window.totals(now: t), "step \(step)")
        }
    }

    // MARK: Quorum

    @Test func kMinusOneFailingClientsNeverTripKDo() throws {
        for k in [2, 3, 5] {
            let p = try Self.outagePolicy("3/10", window: .count(size: 10), minFailingClients: k)
            var m = BreakerStateMachine(policy: p, now: at(0))
            // K − 1 clients fail as often as they like.
            for round in 0..<50 {
                let client = UInt64(1 + round % (k - 1))
                _ = m.report(.failure, permit: nil, client: client, now: at(1))
                #expect(m.state == .closed, "K \(k), round \(round)")
            }
            #expect(m.window.failingClients(now: at(1)) == k - 1)
            // A K-th client's failure trips.
            _ = m.report(.failure, permit: nil, client: 999, now: at(2))
            #expect(m.state == .open, "K \(k)")
            // Unknown clients (0) never count.
            var anonymous = BreakerStateMachine(policy: p, now: at(0))
            _ = anonymous.record(successes: 0, failures: 100, client: 0, now: at(1))
            #expect(anonymous.state == .closed && anonymous.window.failingClients(now: at(1)) == 0)
        }
    }

    @Test func quorumInATimeWindowForgetsClientsWithTheirBucket() throws {
        let p = try Self.outagePolicy(
            "1/2",
            window: .time(duration: .seconds(10), buckets: 10),
            minimumCalls: 2,
            minFailingClients: 2
        )
        var m = BreakerStateMachine(policy: p, now: at(0))
        _ = m.record(successes: 0, failures: 5, client: 1, now: at(0))
        #expect(m.state == .closed && m.window.failingClients(now: at(0)) == 1)
        // Client 1's failures leave the window before client 2 fails: still one client.
        _ = m.record(successes: 5, failures: 0, client: 1, now: at(10_500))
        _ = m.record(successes: 0, failures: 5, client: 2, now: at(10_600))
        #expect(m.state == .closed && m.window.failingClients(now: at(10_600)) == 1)
        _ = m.record(successes: 0, failures: 1, client: 3, now: at(10_700))
        #expect(m.state == .open)
    }

    @Test func windowTextKeepsSlowMarksAndClients() throws {
        let p = try Self.outagePolicy("5/5", window: .count(size: 6), slow: (10, "5/6"), minFailingClients: 3)
        var m = BreakerStateMachine(policy: p, now: at(0))
        _ = m.report(.success, permit: nil, slow: true, now: at(0))
        _ = m.report(.failure, permit: nil, client: 0xabc, now: at(0))
        _ = m.report(.failure, permit: nil, slow: true, client: 0xdef, now: at(0))
        let text = m.window.encoded(now: at(0))
        #expect(text == "c:sFf|abc,def")
        let back = try #require(OutcomeWindow(for: p, decoding: text, now: at(5), elapsed: .zero))
        #expect(back.slowCount(now: at(5)) == 2 && back.failingClients(now: at(5)) == 2)
        #expect(back.totals(now: at(5)) == (3, 2))
        let time = try Self.outagePolicy(
            "5/5",
            window: .time(duration: .seconds(10), buckets: 10),
            slow: (10, "1/2"),
            minFailingClients: 2
        )
        var w = OutcomeWindow(for: time)
        w.record(successes: 2, failures: 3, slow: 1, client: 0x1f, now: at(0))
        let t = w.encoded(now: at(0))
        #expect(t == "t:0,5,3,1,1f")
        let restored = try #require(OutcomeWindow(for: time, decoding: t, now: at(0), elapsed: .zero))
        #expect(restored.slowCount(now: at(0)) == 1 && restored.failingClients(now: at(0)) == 1)
        for bad in ["c:SF|1,2", "c:F|zz", "t:0,5,3,6", "t:0,5,3,1,xyz", "t:0,5,3,1,1,1"] {
            #expect(!OutcomeWindow.fits(bad, shape: bad.hasPrefix("c") ? .count(size: 6) : time.window), "\(bad)")
        }
    }
}
