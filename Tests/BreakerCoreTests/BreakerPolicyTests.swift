import BreakerCore
import Testing

@Suite struct BreakerPolicyTests {
    @Test func defaultsFollowTheSeeds() throws {
        let p = try BreakerPolicy(failureThreshold: Fraction(2, 5))
        #expect(p.window == .count(size: 5))
        #expect(p.minimumCalls == 5)
        #expect(p.halfOpenPermits == 5)
        #expect(p.cooldown == .seconds(30))
        #expect(p.permitTTL == .seconds(10))
        #expect(p.successThreshold == nil)
    }

    @Test func halfOpenPermitsDefaultToTheSuccessThresholdDenominator() throws {
        let p = try BreakerPolicy(failureThreshold: Fraction(10, 20), successThreshold: Fraction(3, 3))
        #expect(p.halfOpenPermits == 3)
    }

    @Test func minimumCallsDefaultToTheFailureDenominatorForTimeWindows() throws {
        let p = try BreakerPolicy(failureThreshold: Fraction(3, 7), window: .time(duration: .seconds(10), buckets: 10))
        #expect(p.minimumCalls == 7)
        let q = try BreakerPolicy(failureThreshold: Fraction(3, 7), window: .count(size: 50))
        #expect(q.minimumCalls == 50)
    }

    @Test func invalidValuesNameTheirField() {
        let cases: [(String, () throws -> BreakerPolicy)] = [
            ("failure_threshold", { try BreakerPolicy(failureThreshold: Fraction(1, 0)) }),
            ("failure_threshold", { try BreakerPolicy(failureThreshold: Fraction(0, 5)) }),
            ("failure_threshold", { try BreakerPolicy(failureThreshold: Fraction(6, 5)) }),
            ("failure_threshold", { try BreakerPolicy(failureThreshold: Fraction(-1, 5)) }),
            (
                "success_threshold",
                { try BreakerPolicy(failureThreshold: Fraction(1, 5), successThreshold: Fraction(0, 3)) }
            ),
            (
                "success_threshold",
                { try BreakerPolicy(failureThreshold: Fraction(1, 5), successThreshold: Fraction(4, 3)) }
            ),
            ("cooldown_ms", { try BreakerPolicy(failureThreshold: Fraction(1, 5), cooldown: .milliseconds(-1)) }),
            ("permit_ttl_ms", { try BreakerPolicy(failureThreshold: Fraction(1, 5), permitTTL: .zero) }),
            ("window.size", { try BreakerPolicy(failureThreshold: Fraction(1, 5), window: .count(size: 0)) }),
            (
                "window.ms",
                { try BreakerPolicy(failureThreshold: Fraction(1, 5), window: .time(duration: .zero, buckets: 1)) }
            ),
            (
                "window.buckets",
                {
                    try BreakerPolicy(
                        failureThreshold: Fraction(1, 5),
                        window: .time(duration: .seconds(1), buckets: 0)
                    )
                }
            ),
            (
                "window.ms",
                {
                    try BreakerPolicy(
                        failureThreshold: Fraction(1, 5),
                        window: .time(duration: .milliseconds(5), buckets: 10)
                    )
                }
            ),
            ("minimum_calls", { try BreakerPolicy(failureThreshold: Fraction(1, 5), minimumCalls: 0) }),
            ("minimum_calls", { try BreakerPolicy(failureThreshold: Fraction(1, 5), minimumCalls: 6) }),
            ("half_open_permits", { try BreakerPolicy(failureThreshold: Fraction(1, 5), halfOpenPermits: 0) }),
        ]
        for (field, make) in cases {
            #expect(throws: BreakerPolicyError.self) { _ = try make() }
            do {
                _ = try make()
            } catch let error as BreakerPolicyError {
                #expect(error.field == field, "\(error)")
                #expect(error.description.contains(field))
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
    }

    @Test func edgeValuesAreAccepted() throws {
        _ = try BreakerPolicy(failureThreshold: Fraction(5, 5), cooldown: .zero, minimumCalls: 5)
        _ = try BreakerPolicy(failureThreshold: Fraction(1, 1), minimumCalls: 1, halfOpenPermits: 1)
        _ = try BreakerPolicy(failureThreshold: Fraction(1, 5), window: .time(duration: .milliseconds(10), buckets: 10))
        _ = try BreakerPolicy(failureThreshold: Fraction(1, 5), permitTTL: .nanoseconds(1))
    }
}
