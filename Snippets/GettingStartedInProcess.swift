// The in-process policies: a circuit breaker and a retry, composed.
import HighwayBreaker

struct ConnectionError: Error {}

func fetchData() async throws -> String { "data" }

// Trip when 2 of the last 5 calls failed; stay open 30 s; then probe.
let breaker = try CircuitBreakerPolicy(
    cooldown: .seconds(30),
    failureThreshold: Fraction(2, 5),
    handle: { $0 is ConnectionError },
    onStateChange: { _, old, new in print("circuit: \(old) -> \(new)") }
)

// Retry with exponential backoff: 1 s, 2 s, 4 s (± 10%), never more than 10 s.
let retry = try RetryPolicy(
    maxRetries: 3,
    backoff: try Backoff(minDelay: .seconds(1), maxDelay: .seconds(10), factor: 2, jitter: 0.1)
)

// The first policy is outermost: every retry attempt passes the breaker.
let api = try Failsafe(policies: [retry, breaker])

do {
    let data = try await api.run { try await fetchData() }
    print("got \(data)")
} catch let open as CircuitOpenError {
    print("not calling: retry after \(open.retryAfter)")
} catch let exhausted as RetriesExhaustedError {
    print("gave up: \(exhausted.lastError)")
}
print(breaker.state)
