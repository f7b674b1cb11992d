import HighwayBreaker
import Synchronization
import Testing

/// The seeds' monitoring patterns (documentation.md "Monitoring State Changes", "Accessing Execution History";
/// usage-patterns.md "Circuit Breaker with State Monitoring", "Comprehensive Logging Configuration", "OAuth API
/// with Specific Error Handling").
@Suite struct MonitoringPatternTests {
    /// The seeds' CircuitBreakerMonitor: records transitions with their durations and alerts on OPEN.
    final class Monitor: Sendable {
        struct Entry: Equatable {
            var from: BreakerState
            var to: BreakerState
            var durationInOld: Duration
        }
        private let state = Mutex<(entries: [Entry], alerts: [String], last: MonotonicInstant)>(([], [], .zero))
        let clock: ManualClock

        init(clock: ManualClock) {
            self.clock = clock
            state.withLock { $0.last = clock.now }
        }

        func logStateChange(_ policy: CircuitBreakerPolicy, _ old: BreakerState, _ new: BreakerState) {
            let now = clock.now
            state.withLock { s in
                s.entries.append(Entry(from: old, to: new, durationInOld: now - s.last))
                if new == .open { s.alerts.append("Circuit breaker opened for service") }
                s.last = now
            }
        }

        var entries: [Entry] { state.withLock { $0.entries } }
        var alerts: [String] { state.withLock { $0.alerts } }
    }

    @Test func stateMonitorRecordsTransitionsDurationsAndAlerts() async throws {
        let clock = ManualClock()
        let monitor = Monitor(clock: clock)
        let breaker = try CircuitBreakerPolicy(
            cooldown: .seconds(60),
            failureThreshold: Fraction(3, 10),
            onStateChange: monitor.logStateChange,
            clock: clock
        )
        // The seeds' demo fails 60% of the time; here a fixed sequence with that rate.
        let pattern = [false, true, true, false, true, false, true, true, false, true]
        clock.advance(by: .seconds(5))
        await drive(breaker, pattern)
        #expect(breaker.state == .open)
        clock.advance(by: .seconds(60))
        await drive(breaker, Array(repeating: false, count: 10))
        #expect(breaker.state == .closed)
        #expect(
            monitor.entries.map { "\($0.from)->\($0.to)" } == ["closed->open", "open->half_open", "half_open->closed"]
        )
        try #require(monitor.entries.count == 3)
        #expect(monitor.entries[0].durationInOld == .seconds(5))
        #expect(monitor.entries[1].durationInOld == .seconds(60))
        #expect(monitor.alerts.count == 1)
    }

    @Test func loggedBreakerSeesHistoryInItsCallback() async throws {
        // create_logged_circuit_breaker("ExternalPaymentAPI"): logs the change and the recent history.
        let lines = Mutex<[String]>([])
        let name = "ExternalPaymentAPI"
        let breaker = try CircuitBreakerPolicy(
            cooldown: .seconds(30),
            failureThreshold: Fraction(2, 5),
            onStateChange: { policy, old, new in
                lines.withLock {
                    $0.append("[\(name)] Circuit breaker state changed: \(old) -> \(new)")
                    $0.append("[\(name)] Recent execution history: \(policy.history)")
                }
            },
            name: name
        )
        await drive(breaker, [false, false, true, false, true])
        let logged = lines.withLock { $0 }
        #expect(logged.first == "[ExternalPaymentAPI] Circuit breaker state changed: closed -> open")
        #expect(
            logged.last
                == "[ExternalPaymentAPI] Recent execution history: [success, success, failure, success, failure]"
        )
        await #expect {
            try await breaker.run {}
        } throws: { error in
            guard let e = error as? CircuitOpenError else { return false }
            return e.resource == name && e.state == .open && e.retryAfter > .seconds(29) && e.retryAfter <= .seconds(30)
        }
    }

    @Test func oauthBreakerHandlesOnlyServerErrors() async throws {
        let relevant: @Sendable (any Error) -> Bool = { error in
            if let http = error as? HTTPError { return [500, 502, 503, 504].contains(http.statusCode) }
            return error is ConnectionError || error is TimeoutError
        }
        let breaker = try CircuitBreakerPolicy(
            cooldown: .seconds(300),
            failureThreshold: Fraction(2, 5),
            handle: relevant
        )
        for code in [401, 404, 400, 403, 429] { _ = try? await breaker.run { throw HTTPError(statusCode: code) } }
        #expect(breaker.state == .closed)
        #expect(breaker.history == Array(repeating: .success, count: 5), "client errors count as successes")
        for code in [502, 503] { _ = try? await breaker.run { throw HTTPError(statusCode: code) } }
        #expect(breaker.state == .open)
    }
}
