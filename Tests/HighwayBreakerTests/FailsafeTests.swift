import HighwayBreaker
import Testing

/// The seeds' composition patterns (documentation.md "Failsafe Pattern", usage-patterns.md "External API with
/// Both Circuit Breaker and Retry").
@Suite struct FailsafeTests {
    @Test func retryAroundBreakerPassesTheBreakerOnEveryAttempt() async throws {
        // documentation.md: Failsafe(RetryPolicy(max_retries=2), CircuitBreakerPolicy(2/5)).
        let breaker = try CircuitBreakerPolicy(failureThreshold: Fraction(2, 5))
        let failsafe = try Failsafe(policies: [try RetryPolicy(maxRetries: 2, sleeper: RecordingSleeper()), breaker])
        let attempts = Counter()
        _ = try? await failsafe.run {
            attempts.bump()
            throw ConnectionError()
        }
        #expect(attempts.count == 3)
        #expect(breaker.history == [.failure, .failure, .failure], "each attempt was reported to the breaker")
        #expect(breaker.state == .closed, "3 calls: the window of 5 is not full")
        _ = try? await failsafe.run {
            attempts.bump()
            throw ConnectionError()
        }
        #expect(attempts.count == 5, "the 5th attempt trips the breaker; the 6th is rejected without running")
        #expect(breaker.state == .open)
    }

    @Test func externalAPIPattern() async throws {
        let clock = ManualClock()
        let sleeper = RecordingSleeper(clock: clock)
        let log = TransitionLog()
        let retry = try RetryPolicy(
            maxRetries: 2,
            backoff: try Backoff(minDelay: .seconds(1), maxDelay: .seconds(5), factor: 2),
            handle: { $0 is ConnectionError },
            sleeper: sleeper
        )
        let breaker = try CircuitBreakerPolicy(
            cooldown: .seconds(60),
            failureThreshold: Fraction(3, 10),
            handle: { $0 is ConnectionError || $0 is TimeoutError },
            onStateChange: log.handler(),
            clock: clock
        )
        let api = try Failsafe(policies: [retry, breaker])

        // 7 good calls, then the API goes down: 3 failures within the window of 10 trip it.
        for _ in 0..<7 { _ = try await api.run { "data" } }
        let attempts = Counter()
        await #expect(throws: RetriesExhaustedError.self) {
            try await api.run {
                attempts.bump()
                throw ConnectionError()
            }
        }
        #expect(attempts.count == 3, "first call and 2 retries; the third failure trips the breaker")
        #expect(sleeper.delays == [.seconds(1), .seconds(2)])
        #expect(log.pairs == ["closed->open"])
        // The next call is rejected by the open breaker; the retry does not handle CircuitOpenError.
        await #expect(throws: CircuitOpenError.self) {
            try await api.run {
                attempts.bump()
                throw ConnectionError()
            }
        }
        #expect(attempts.count == 3, "rejected without running")

        // A timeout is not retried (the retry's handle) but counts for the breaker once it is closed again.
        clock.advance(by: .seconds(60))
        for _ in 0..<3 { _ = try await api.run { "probe ok" } }
        #expect(breaker.state == .halfOpen)
    }

    @Test func breakerAroundRetrySeesOneOutcomePerCall() async throws {
        let breaker = try CircuitBreakerPolicy(failureThreshold: Fraction(1, 2))
        let failsafe = try Failsafe(breaker, try RetryPolicy(maxRetries: 4, sleeper: RecordingSleeper()))
        let attempts = Counter()
        _ = try? await failsafe.run {
            attempts.bump()
            throw ConnectionError()
        }
        #expect(attempts.count == 5)
        #expect(breaker.history == [.failure], "the breaker outermost sees the exhausted retry once")
    }

    @Test func theSameInstanceTwiceIsAnError() throws {
        let breaker = try CircuitBreakerPolicy(failureThreshold: Fraction(1, 2))
        #expect { _ = try Failsafe(policies: [breaker, breaker]) } throws: { error in
            (error as? ConfigurationError)?.isSameKind(as: .duplicatePolicy(at: 0, firstAt: 0)) == true
                && "\(error)".contains("index 1")
        }
        let inner = try Failsafe(policies: [breaker])
        #expect(throws: ConfigurationError.self) { _ = try Failsafe(policies: [inner, breaker]) }
        let twin = try CircuitBreakerPolicy(failureThreshold: Fraction(1, 2))
        #expect(throws: Never.self) { _ = try Failsafe(policies: [breaker, twin]) }
    }

    @Test func synchronousComposition() throws {
        let breaker = try CircuitBreakerPolicy(failureThreshold: Fraction(1, 3))
        let failsafe = try Failsafe(policies: [try RetryPolicy(maxRetries: 1, sleeper: RecordingSleeper()), breaker])
        let attempts = Counter()
        #expect(throws: RetriesExhaustedError.self) {
            try failsafe.runBlocking {
                attempts.bump()
                throw ConnectionError()
            }
        }
        #expect(attempts.count == 2 && breaker.history == [.failure, .failure])
    }
}
