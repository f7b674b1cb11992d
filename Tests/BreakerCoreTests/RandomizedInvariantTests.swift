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
    ]

    @Test(arguments: 0..<policies.count)
    func invariantsHold(policyIndex: Int) throws {
        let p = Self.policies[policyIndex]
        for seed in UInt64(1)...8 {
            var rng = SplitMix(state: seed &* 7919 &+ UInt64(policyIndex))
            var m = BreakerStateMachine(policy: p, now: at(0))
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
                case 40..<85:
                    let outcome: Outcome = [.success, .failure, .failure, .ignored].randomElement(using: &rng)!
                    let permit = held.isEmpty || Bool.random(using: &rng) ? nil : held.removeFirst()
                    transitions = m.report(outcome, permit: permit, now: t).transitions
                case 85..<90:
                    transitions =
                        m.record(
                            successes: Int.random(in: 0...3, using: &rng),
                            failures: Int.random(in: 0...3, using: &rng),
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
                }
                // Forced states carry their force; automatic states carry none.
                #expect((m.force != nil) == m.state.isForced)
            }
        }
    }
}
