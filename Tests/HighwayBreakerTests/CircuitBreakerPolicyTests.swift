import HighwayBreaker
import Testing

/// The seeds' circuit breaker patterns (documentation.md "Circuit Breaker Pattern", usage-patterns.md
/// "Basic Service Calls", "Database Connections", "Message Queue Processing").
@Suite struct CircuitBreakerPolicyTests {
    @Test func basicUsageTripsAfterTwoOfFiveAndRejectsWithRetryAfter() async throws {
        let clock = ManualClock()
        let breaker = try CircuitBreakerPolicy(cooldown: .seconds(30), failureThreshold: Fraction(2, 5), clock: clock)
        let calls = Counter()
        await drive(breaker, [false, true, false, false])
        #expect(breaker.state == .closed, "4 calls: the window of 5 is not full")
        await drive(breaker, [true])
        #expect(breaker.state == .open)

        clock.advance(by: .seconds(10))
        await #expect(throws: CircuitOpenError(resource: nil, state: .open, retryAfter: .seconds(20))) {
            try await breaker.run { calls.bump() }
        }
        #expect(calls.count == 0, "a rejected call never runs")
    }

    @Test func stateTransitionsThroughHalfOpenBackToClosed() async throws {
        let clock = ManualClock()
        let log = TransitionLog()
        let breaker = try CircuitBreakerPolicy(
            cooldown: .seconds(30),
            failureThreshold: Fraction(2, 5),
            onStateChange: log.handler(),
            clock: clock
        )
        await drive(breaker, [true, true, true, true, true])
        #expect(breaker.state == .open)
        clock.advance(by: .seconds(30))
        // Half-open: 5 probes (the failure threshold's denominator); 1 failure of 5 < 2/5 closes.
        await drive(breaker, [false])
        #expect(breaker.state == .halfOpen)
        await drive(breaker, [true, false, false, false])
        #expect(breaker.state == .closed)
        #expect(log.pairs == ["closed->open", "open->half_open", "half_open->closed"])
    }

    @Test func halfOpenReopensWhenProbesFail() async throws {
        let clock = ManualClock()
        let breaker = try CircuitBreakerPolicy(
            cooldown: .seconds(5),
            failureThreshold: Fraction(1, 2),
            successThreshold: Fraction(2, 2),
            clock: clock
        )
        await drive(breaker, [true, true])
        clock.advance(by: .seconds(5))
        await drive(breaker, [false, true])
        #expect(breaker.state == .open)
        #expect(breaker.generation == 3)
    }

    @Test func unhandledErrorsAreRethrownAndCountAsSuccesses() async throws {
        // usage-patterns "Database Operation with Circuit Breaker": only OperationalError counts.
        let breaker = try CircuitBreakerPolicy(
            cooldown: .seconds(60),
            failureThreshold: Fraction(1, 5),
            handle: { $0 is OperationalError }
        )
        for _ in 0..<10 {
            await #expect(throws: ValueError.self) { try await breaker.run { throw ValueError() } }
        }
        #expect(breaker.state == .closed)
        #expect(breaker.history == Array(repeating: .success, count: 5))
        await drive(breaker, [true], error: OperationalError())
        #expect(breaker.state == .open, "1 OperationalError in the last 5 calls")
    }

    @Test func queueConsumerHandlesOnlyTransientErrors() async throws {
        // usage-patterns "Consumer with Circuit Breaker": 1/3, transient = connection/timeout or "transient".
        let isTransient: @Sendable (any Error) -> Bool = { error in
            error is ConnectionError || error is TimeoutError
                || ((error as? MessageError)?.message.lowercased().contains("transient") ?? false)
        }
        let breaker = try CircuitBreakerPolicy(
            cooldown: .seconds(30),
            failureThreshold: Fraction(1, 3),
            handle: isTransient
        )
        await drive(breaker, [true, true, true], error: MessageError(message: "permanent: bad payload"))
        #expect(breaker.state == .closed, "permanent errors do not trip")
        await drive(breaker, [true], error: MessageError(message: "Transient broker hiccup"))
        #expect(breaker.state == .open)
    }

    @Test func historyIsOldestFirstAndBounded() async throws {
        let breaker = try CircuitBreakerPolicy(failureThreshold: Fraction(3, 4))
        await drive(breaker, [false, true, false, false, true, false])
        #expect(breaker.history == [.success, .success, .failure, .success], "the last 4 (the denominator)")
    }

    @Test func synchronousCallsWork() throws {
        let breaker = try CircuitBreakerPolicy(failureThreshold: Fraction(1, 1))
        #expect(try breaker.runBlocking { 42 } == 42)
        #expect(throws: ConnectionError.self) { try breaker.runBlocking { throw ConnectionError() } }
        #expect(breaker.state == .open)
        #expect(throws: CircuitOpenError.self) { try breaker.runBlocking { 1 } }
    }

    @Test func cancellationIsNotAFailure() async throws {
        let breaker = try CircuitBreakerPolicy(failureThreshold: Fraction(1, 1))
        await #expect(throws: CancellationError.self) { try await breaker.run { throw CancellationError() } }
        #expect(breaker.state == .closed)
        #expect(breaker.history.isEmpty)
    }

    @Test func forceAndReset() async throws {
        let log = TransitionLog()
        let breaker = try CircuitBreakerPolicy(failureThreshold: Fraction(1, 1), onStateChange: log.handler())
        breaker.force(.open, reason: "maintenance")
        await #expect(throws: CircuitOpenError.self) { try await breaker.run {} }
        breaker.release()
        #expect(try await breaker.run { 7 } == 7)
        breaker.reset()
        #expect(log.pairs == ["closed->forced_open", "forced_open->closed", "closed->closed"])
    }

    @Test func fiftyTasksInHalfOpenRunExactlyThePermits() async throws {
        let clock = ManualClock()
        let policy = try BreakerPolicy(
            failureThreshold: Fraction(1, 1),
            successThreshold: Fraction(3, 3),
            cooldown: .seconds(1)
        )
        let breaker = CircuitBreakerPolicy(policy: policy, clock: clock)
        await drive(breaker, [true])
        clock.advance(by: .seconds(1))

        let ran = Counter()
        let rejected = Counter()
        let gate = Gate()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    do {
                        try await breaker.run {
                            ran.bump()
                            await gate.wait()
                        }
                    } catch {
                        rejected.bump()
                    }
                }
            }
            // Hold the probes until every task has either started its probe or been rejected.
            while ran.count + rejected.count < 50 { await Task.yield() }
            await gate.open()
        }
        #expect(ran.count == 3)
        #expect(rejected.count == 47)
        #expect(breaker.state == .closed)
    }
}

/// Suspends callers until opened.
actor Gate {
    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }

    func open() {
        isOpen = true
        for w in waiters { w.resume() }
        waiters.removeAll()
    }
}
