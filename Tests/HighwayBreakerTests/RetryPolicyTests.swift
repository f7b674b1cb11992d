import HighwayBreaker
import Testing

/// The seeds' retry patterns (documentation.md "Retry Pattern", usage-patterns.md "Service with Retry",
/// "Database with Retry", "Batch Processing").
@Suite struct RetryPolicyTests {
    @Test func basicRetryMakesMaxRetriesPlusOneAttempts() async throws {
        let attempts = Counter()
        let retry = try RetryPolicy(maxRetries: 3, sleeper: RecordingSleeper())
        await #expect {
            try await retry.run {
                attempts.bump()
                throw ConnectionError()
            }
        } throws: { error in
            guard let e = error as? RetriesExhaustedError else { return false }
            return e.attempts == 4 && e.lastError is ConnectionError && "\(e)".contains("gave up after 4 attempts")
        }
        #expect(attempts.count == 4)
    }

    @Test func succeedsOnALaterAttempt() async throws {
        let attempts = Counter()
        let retry = try RetryPolicy(maxRetries: 3, sleeper: RecordingSleeper())
        let value = try await retry.run {
            attempts.bump()
            if attempts.count < 3 { throw TimeoutError() }
            return "ok"
        }
        #expect(value == "ok" && attempts.count == 3)
    }

    @Test func backoffDelaysGrowByTheFactorAndAreCapped() async throws {
        // usage-patterns "Service with Retry": 1 s, 2 s, 4 s (cap 10 s).
        let sleeper = RecordingSleeper()
        let retry = try RetryPolicy(
            maxRetries: 3,
            backoff: try Backoff(minDelay: .seconds(1), maxDelay: .seconds(10), factor: 2),
            sleeper: sleeper
        )
        _ = try? await retry.run { throw ConnectionError() }
        #expect(sleeper.delays == [.seconds(1), .seconds(2), .seconds(4)])

        let capped = try Backoff(minDelay: .seconds(1), maxDelay: .seconds(10), factor: 2)
        #expect((1...6).map { capped.delay(forAttempt: $0) } == [1, 2, 4, 8, 10, 10].map { Duration.seconds($0) })
    }

    @Test func jitterSpreadsEachDelayWithinItsBand() throws {
        // documentation.md: Backoff(1 s, 10 s, factor 2, jitter 0.1).
        let backoff = try Backoff(minDelay: .seconds(1), maxDelay: .seconds(10), factor: 2, jitter: 0.1)
        #expect(backoff.delay(forAttempt: 2, unitRandom: 0) == .milliseconds(1_800))
        #expect(backoff.delay(forAttempt: 2, unitRandom: 0.5) == .seconds(2))
        #expect(backoff.delay(forAttempt: 2, unitRandom: 0.75) == .milliseconds(2_100))
        #expect(backoff.delay(forAttempt: 4, unitRandom: 0.99) == .milliseconds(8_784), "8 s + 9.8%")
        #expect(backoff.delay(forAttempt: 5, unitRandom: 0) == .seconds(10), "16 s − 10% → capped at 10 s")
        for attempt in 1...5 {
            let base = [1.0, 2, 4, 8, 16][attempt - 1]
            for _ in 0..<100 {
                let d = backoff.delay(forAttempt: attempt)
                #expect(d >= .milliseconds(Int64(min(base * 900, 10_000))) && d <= .seconds(10))
                #expect(d <= .milliseconds(Int64(base * 1100)))
            }
        }
    }

    @Test func retryUsesItsRandomSourceForJitter() async throws {
        let sleeper = RecordingSleeper()
        let retry = try RetryPolicy(
            maxRetries: 2,
            backoff: try Backoff(minDelay: .seconds(1), maxDelay: .seconds(10), factor: 2, jitter: 0.5),
            sleeper: sleeper,
            unitRandom: { 1.0 }
        )
        _ = try? await retry.run { throw ConnectionError() }
        #expect(sleeper.delays == [.milliseconds(1_500), .seconds(3)])
    }

    @Test func invalidBackoffAndRetryValuesNameTheParameter() {
        for (parameter, make) in [
            ("jitter", { _ = try Backoff(minDelay: .seconds(1), maxDelay: .seconds(2), jitter: 1.5) }),
            ("jitter", { _ = try Backoff(minDelay: .seconds(1), maxDelay: .seconds(2), jitter: -0.1) }),
            ("maxDelay", { _ = try Backoff(minDelay: .seconds(3), maxDelay: .seconds(2)) }),
            ("minDelay", { _ = try Backoff(minDelay: .seconds(-1), maxDelay: .seconds(2)) }),
            ("factor", { _ = try Backoff(minDelay: .seconds(1), maxDelay: .seconds(2), factor: 0.5) }),
            ("maxRetries", { _ = try RetryPolicy(maxRetries: -1) }),
        ] as [(String, () throws -> Void)] {
            #expect { try make() } throws: { ($0 as? ConfigurationError)?.parameter == parameter }
        }
        #expect(throws: Never.self) { _ = try Backoff(minDelay: .zero, maxDelay: .zero, jitter: 1) }
        #expect(throws: Never.self) { _ = try Backoff(minDelay: .seconds(1), maxDelay: .seconds(1), jitter: 0) }
    }

    @Test func customHandlingRetriesOnlyMatchingErrors() async throws {
        // documentation.md "Custom Exception Handling": only ConnectionError/TimeoutError are retried.
        let attempts = Counter()
        let retry = try RetryPolicy(
            maxRetries: 3,
            handle: { $0 is ConnectionError || $0 is TimeoutError },
            sleeper: RecordingSleeper()
        )
        await #expect(throws: ValueError.self) {
            try await retry.run {
                attempts.bump()
                throw ValueError()
            }
        }
        #expect(attempts.count == 1, "an unhandled error passes through at once")
    }

    @Test func databaseRetryHandlesTwoErrorKinds() throws {
        // usage-patterns "Database with Retry": max 2, OperationalError or DatabaseError; synchronous.
        let attempts = Counter()
        let retry = try RetryPolicy(
            maxRetries: 2,
            handle: { $0 is OperationalError || $0 is DatabaseError },
            sleeper: RecordingSleeper()
        )
        let result = try retry.runBlocking {
            attempts.bump()
            if attempts.count == 1 { throw OperationalError() }
            if attempts.count == 2 { throw DatabaseError() }
            return "updated"
        }
        #expect(result == "updated" && attempts.count == 3)
    }

    @Test func batchProcessingRetriesEachItemOnce() throws {
        // usage-patterns "Batch Operation with Individual Item Retry": max 1, ValueError only.
        let retry = try RetryPolicy(maxRetries: 1, handle: { $0 is ValueError }, sleeper: RecordingSleeper())
        let items: [(id: Int, unprocessible: Bool)] = [(1, false), (2, true), (3, false)]
        let attempts = Counter()
        var results: [Int] = []
        var errors: [(Int, String)] = []
        for item in items {
            do {
                results.append(
                    try retry.runBlocking {
                        attempts.bump()
                        if item.unprocessible { throw ValueError(message: "Item cannot be processed") }
                        return item.id
                    }
                )
            } catch {
                errors.append((item.id, "\(error)"))
            }
        }
        #expect(results == [1, 3])
        #expect(errors.map(\.0) == [2])
        #expect(errors[0].1.contains("gave up after 2 attempts"))
        #expect(attempts.count == 4, "1 + (1 + 1 retry) + 1")
    }

    @Test func circuitOpenErrorIsNotRetriedByDefault() async throws {
        // On purpose unlike the seeds: retrying into an open circuit only waits.
        let attempts = Counter()
        let sleeper = RecordingSleeper()
        let retry = try RetryPolicy(
            maxRetries: 3,
            backoff: try Backoff(minDelay: .seconds(1), maxDelay: .seconds(10)),
            sleeper: sleeper
        )
        let open = CircuitOpenError(resource: "db", state: .open, retryAfter: .seconds(30), source: .server)
        await #expect(throws: open) {
            try await retry.run {
                attempts.bump()
                throw open
            }
        }
        #expect(throws: open) { try retry.runBlocking { throw open } }
        #expect(attempts.count == 1 && sleeper.delays.isEmpty, "passed through at once")
        #expect(!RetryPolicy.retriesByDefault(open) && RetryPolicy.retriesByDefault(ConnectionError()))
    }

    @Test func aHandleOfYourOwnStillRetriesCircuitOpenError() async throws {
        let attempts = Counter()
        let retry = try RetryPolicy(maxRetries: 2, handle: { $0 is CircuitOpenError }, sleeper: RecordingSleeper())
        await #expect {
            try await retry.run {
                attempts.bump()
                throw CircuitOpenError(resource: nil, state: .halfOpen, retryAfter: .zero)
            }
        } throws: { ($0 as? RetriesExhaustedError)?.lastError is CircuitOpenError }
        #expect(attempts.count == 3)
    }

    @Test func theReadmeExampleReachesItsCircuitOpenErrorBranch() async throws {
        // README "in-process policies": Failsafe(policies: [retry, breaker]) with the breaker open.
        let clock = ManualClock()
        let breaker = try CircuitBreakerPolicy(cooldown: .seconds(30), failureThreshold: Fraction(2, 5), clock: clock)
        let retry = try RetryPolicy(
            maxRetries: 3,
            backoff: try Backoff(minDelay: .seconds(1), maxDelay: .seconds(10), factor: 2, jitter: 0.1),
            sleeper: RecordingSleeper(clock: clock)
        )
        let api = try Failsafe(policies: [retry, breaker])
        for _ in 0..<5 { breaker.complete(.failure, permit: nil) }
        #expect(breaker.state == .open)
        var branch = ""
        do {
            _ = try await api.run { "data" }
        } catch let open as CircuitOpenError {
            branch = "open \(open.source) \(open.retryAfter)"
        } catch let exhausted as RetriesExhaustedError {
            branch = "exhausted \(exhausted.lastError)"
        }
        #expect(branch == "open local 30.0 seconds")
    }

    @Test func cancellationIsNotRetried() async throws {
        let attempts = Counter()
        let retry = try RetryPolicy(maxRetries: 5, sleeper: RecordingSleeper())
        await #expect(throws: CancellationError.self) {
            try await retry.run {
                attempts.bump()
                throw CancellationError()
            }
        }
        #expect(attempts.count == 1)
    }
}
