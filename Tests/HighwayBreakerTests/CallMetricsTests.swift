import CoreMetrics
import MetricsTestKit
import Testing

@testable import HighwayBreaker

/// The in-process breaker's swift-metrics: calls counted by outcome with the resource, durations timed on the
/// breaker's clock. Each test binds its own `TestMetrics` to its task (`withMetricsFactory`) while it creates the
/// breaker: no global bootstrap, so tests running in parallel do not see each other's counts.
@Suite struct CallMetricsTests {
    static func calls(
        _ metrics: TestMetrics,
        _ resource: String,
        _ outcome: String,
        source: String = "local"
    ) -> Int64 {
        let dimensions = [("resource", resource), ("outcome", outcome), ("source", source)]
        return (try? metrics.expectCounter(CallMetrics.callsLabel, dimensions).totalValue) ?? 0
    }

    static func durations(_ metrics: TestMetrics, _ resource: String) throws -> [Int64] {
        try metrics.expectTimer(CallMetrics.durationLabel, [("resource", resource)]).values
    }

    @Test func allowedAndRejectedCallsAreCountedAndEveryCallThatRanIsTimed() async throws {
        let metrics = TestMetrics()
        let clock = ManualClock()
        let breaker = try withMetricsFactory(metrics) {
            try CircuitBreakerPolicy(cooldown: .seconds(30), failureThreshold: Fraction(2, 2), name: "db", clock: clock)
        }
        for ms in [5, 120] {
            try await breaker.run { clock.advance(by: .milliseconds(ms)) }
        }
        #expect(Self.calls(metrics, "db", "allowed") == 2)
        #expect(try Self.durations(metrics, "db") == [5_000_000, 120_000_000], "on the breaker's clock, in ns")

        for _ in 0..<2 {
            await #expect(throws: ConnectionError.self) {
                try await breaker.run {
                    clock.advance(by: .milliseconds(1))
                    throw ConnectionError()
                }
            }
        }
        #expect(breaker.state == .open)
        #expect(Self.calls(metrics, "db", "allowed") == 4, "a call that throws was allowed all the same")
        #expect(try Self.durations(metrics, "db").count == 4, "and timed")

        for _ in 0..<3 { await #expect(throws: CircuitOpenError.self) { try await breaker.run {} } }
        #expect(Self.calls(metrics, "db", "rejected") == 3)
        #expect(Self.calls(metrics, "db", "allowed") == 4)
        #expect(try Self.durations(metrics, "db").count == 4, "a rejected call runs nothing and is not timed")
        let timer = try metrics.expectTimer(CallMetrics.durationLabel, [("resource", "db")])
        #expect(timer.displayUnit == .seconds)
    }

    @Test func blockingCallsAndManualAcquireCountToo() throws {
        let metrics = TestMetrics()
        let breaker = try withMetricsFactory(metrics) {
            try CircuitBreakerPolicy(failureThreshold: Fraction(1, 1), name: "queue", clock: ManualClock())
        }
        try breaker.runBlocking {}
        let permit = try breaker.acquire()
        breaker.complete(.failure, permit: permit)
        #expect(throws: CircuitOpenError.self) { try breaker.runBlocking {} }
        #expect(Self.calls(metrics, "queue", "allowed") == 2)
        #expect(Self.calls(metrics, "queue", "rejected") == 1)
        #expect(try Self.durations(metrics, "queue").count == 1, "only run times a call: acquire cannot")
    }

    @Test func anUnnamedBreakerReportsTheResourceDash() throws {
        let metrics = TestMetrics()
        let breaker = withMetricsFactory(metrics) { CircuitBreakerPolicy(policy: .default, clock: ManualClock()) }
        try breaker.runBlocking {}
        #expect(Self.calls(metrics, "-", "allowed") == 1)
    }

    @Test func eachAttemptOfARetryPassesTheBreakerAndIsCounted() async throws {
        let metrics = TestMetrics()
        let clock = ManualClock()
        let breaker = try withMetricsFactory(metrics) {
            try CircuitBreakerPolicy(failureThreshold: Fraction(5, 5), name: "api", clock: clock)
        }
        let retry = try RetryPolicy(maxRetries: 2, sleeper: RecordingSleeper(clock: clock))
        let attempts = Counter()
        _ = try? await Failsafe(policies: [retry, breaker]).run {
            attempts.bump()
            throw ConnectionError()
        }
        #expect(attempts.count == 3)
        #expect(Self.calls(metrics, "api", "allowed") == 3)
    }

    @Test func withoutABackendThereAreNoInstruments() {
        // Nothing in this test process bootstraps a backend: the factory is swift-metrics' no-op default.
        #expect(MetricsSystem.factory is NOOPMetricsHandler)
        #expect(CallMetrics.make(resource: "x", source: .local) == nil, "no counters, and no clock read per call")
        #expect(withMetricsFactory(TestMetrics()) { CallMetrics.make(resource: "x", source: .local) } != nil)
    }
}
