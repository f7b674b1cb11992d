import BreakerCore
import Testing

/// Long random sequences of operations, checking the invariants after every step.
@Suite struct RandomizedInvariantTests {
    /// A small deterministic generator (SplitMix64), so a failure can be replayed from its seed.
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

    static let policies: [BreakerPolicy] = [
        try! policy("2/5", cooldownMs: 50, permitTTLMs: 30),
        try! policy("1/3", success: "2/3", cooldownMs: 20, permitTTLMs: 15),
        try! policy("3/10", window: .time(duration: .milliseconds(200), buckets: 4), minimumCalls: 6, permits: 4),
        try! policy("5/5", cooldownMs: 0, permits: 1, permitTTLMs: 5),
        // Issue #16's fields: slow calls, a growing jittered cooldown, shadow mode, a quorum of clients.
        try! BreakerPolicy(
            failureThreshold: Fraction(2, 5),
            cooldown: .milliseconds(10),
            permitTTL: .milliseconds(20),
            slowCallDuration: .milliseconds(5),
            slowCallThreshold: Fraction(3, 5),
            cooldownMaximum: .milliseconds(60),
            cooldownMultiplier: 2.5,
            cooldownJitter: 0.5
        ),
        try! BreakerPolicy(
            failureThreshold: Fraction(3, 10),
            cooldown: .milliseconds(20),
            window: .time(duration: .milliseconds(200), buckets: 4),
            minimumCalls: 6,
            halfOpenPermits: 3,
            slowCallDuration: .milliseconds(5),
            slowCallThreshold: Fraction(1, 2),
            mode: .shadow,
            minFailingClients: 2
        ),
        try! BreakerPolicy(failureThreshold: Fraction(2, 4), cooldown: .milliseconds(15), minFailingClients: 3),
    ]

    @Test(arguments: 0..<policies.count)
    func invariantsHold(policyIndex: Int) throws {
        let p = Self.policies[policyIndex]
        for seed in UInt64(1)...8 {
            var rng = SplitMix(state: seed &* 7919 &+ UInt64(policyIndex))
            var m = BreakerStateMachine(policy: p, now: at(0), randomSeed: seed)
            var now: Int64 = 0
            var held: [Permit] = []
            var generation = m.generation
            for step in 0..<5_000 {
                now += Int64.random(in: 0...4, using: &rng)
                let t = at(now)
                let before = m
                var transitions: [BreakerTransition] = []
                switch Int.random(in: 0..<100, using: &rng) {
                case 0..<40:
                    let d = m.acquire(now: t)
                    transitions = d.transitions
                    if let permit = d.permit { held.append(permit) }
                    // Shadow mode never rejects; enforce mode always means what it says.
                    if p.mode == .shadow { #expect(d.allowed, "seed \(seed) step \(step)") }
                    if p.mode == .enforce { #expect(d.wouldAllow, "seed \(seed) step \(step)") }
                case 40..<85:
                    let outcome: Outcome = [.success, .failure, .failure, .ignored].randomElement(using: &rng)!
                    let permit = held.isEmpty || Bool.random(using: &rng) ? nil : held.removeFirst()
                    let slow = Int.random(in: 0..<4, using: &rng) == 0
                    let client = UInt64.random(in: 0...4, using: &rng)
                    transitions = m.report(outcome, permit: permit, slow: slow, client: client, now: t).transitions
                case 85..<90:
                    let successes = Int.random(in: 0...3, using: &rng)
                    let failures = Int.random(in: 0...3, using: &rng)
                    transitions =
                        m.record(
                            successes: successes,
                            failures: failures,
                            slow: Int.random(in: 0...(successes + failures), using: &rng),
                            client: UInt64.random(in: 0...4, using: &rng),
                            now: t
                        ).transitions
                case 90..<93:
                    transitions = [
                        m.force(
                            Bool.random(using: &rng) ? .open : .closed,
                            ttl: .milliseconds(Int64.random(in: 1...40, using: &rng)),
                            reason: nil,
                            by: nil,
                            now: t
                        )
                    ]
                case 93..<95:
                    transitions = [m.release(now: t)].compactMap { $0 }
                case 95..<96:
                    transitions = [m.reset(now: t)]
                default:
                    transitions = [m.expire(now: t)].compactMap { $0 }
                }

                // Never more probe slots in use than the policy allows.
                let (out, successes, failures) = m.halfOpenCounts
                #expect(out + successes + failures <= p.halfOpenPermits, "seed \(seed) step \(step)")
                if m.state != .halfOpen { #expect(out == 0 && successes == 0 && failures == 0) }
                // Generation strictly increases, by one per transition, and transitions chain.
                for tr in transitions {
                    #expect(tr.generation == generation + 1, "seed \(seed) step \(step)")
                    generation = tr.generation
                }
                #expect(m.generation == generation)
                if let first = transitions.first { #expect(first.from == before.state) }
                if let last = transitions.last { #expect(last.to == m.state) }
                // Closed never trips below minimumCalls.
                // (An open breaker keeps the window that tripped it, so it can be checked here.)
                if transitions.contains(where: { $0.cause == .failureThreshold }) {
                    #expect(m.window.totals(now: t).calls >= p.minimumCalls, "seed \(seed) step \(step)")
                    // The quorum was met.
                    if p.minFailingClients > 1 {
                        #expect(m.window.failingClients(now: t) >= p.minFailingClients, "seed \(seed) step \(step)")
                    }
                }
                if transitions.contains(where: { $0.cause == .slowCallThreshold }) {
                    let (calls, _) = m.window.totals(now: t)
                    let rule = try #require(p.slowCall)
                    #expect(calls >= p.minimumCalls, "seed \(seed) step \(step)")
                    #expect(rule.threshold.isReached(by: m.window.slowCount(now: t), of: calls))
                }
                // The cooldown stays within its bounds, and each open period within the jitter around it.
                #expect(
                    m.currentCooldown >= p.cooldown && m.currentCooldown <= (p.cooldownGrowth?.maximum ?? p.cooldown)
                )
                if transitions.last?.to == .open {
                    let period = m.openUntil - m.changedAt
                    #expect(period >= m.currentCooldown * (1 - p.cooldownJitter), "seed \(seed) step \(step)")
                    #expect(period <= m.currentCooldown * (1 + p.cooldownJitter), "seed \(seed) step \(step)")
                }
                // Transitions say whether they were in shadow mode.
                #expect(transitions.allSatisfy { $0.shadow == (p.mode == .shadow) })
                // Forced states carry their force; automatic states carry none.
                #expect((m.force != nil) == m.state.isForced)
            }
        }
    }
}
