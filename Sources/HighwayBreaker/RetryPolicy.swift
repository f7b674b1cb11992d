/// Runs an operation again when it fails with an error that `handle` accepts, up to `maxRetries` more times,
/// waiting between attempts as `backoff` says (no wait without one).
///
/// An error that `handle` rejects passes through at once. When the retries run out the policy throws
/// `RetriesExhaustedError` carrying the last error. Cancellation is never retried.
///
/// By default every error but `CircuitOpenError` is retried: retrying into an open circuit only waits, so the
/// rejection passes through at once (the Python seeds retried it; this differs on purpose). A `handle` of your
/// own decides alone, `CircuitOpenError` included.
public final class RetryPolicy: ResiliencePolicy {
    /// How many times to try again after the first attempt.
    public let maxRetries: Int
    /// The waits between attempts; nil retries at once.
    public let backoff: Backoff?
    private let handle: @Sendable (any Error) -> Bool
    private let sleeper: any Sleeper
    private let unitRandom: @Sendable () -> Double

    /// Creates a retry policy.
    ///
    /// - Parameters:
    ///   - maxRetries: retries after the first attempt (0 or more; default 3).
    ///   - backoff: the waits between attempts (default none).
    ///   - handle: which errors are worth another attempt (default: `retriesByDefault`, every error but
    ///     `CircuitOpenError`).
    ///   - sleeper: how to wait (tests pass one that does not sleep).
    ///   - unitRandom: the jitter source, a number in `0..<1` per delay (tests pass a fixed one).
    public init(
        maxRetries: Int = 3,
        backoff: Backoff? = nil,
        handle: @escaping @Sendable (any Error) -> Bool = RetryPolicy.retriesByDefault,
        sleeper: any Sleeper = SystemSleeper(),
        unitRandom: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) throws {
        guard maxRetries >= 0 else {
            throw ConfigurationError.invalidValue("maxRetries", "must be 0 or more, got \(maxRetries)")
        }
        self.maxRetries = maxRetries
        self.backoff = backoff
        self.handle = handle
        self.sleeper = sleeper
        self.unitRandom = unitRandom
    }

    /// The default `handle`: every error but `CircuitOpenError` is worth another attempt.
    public static let retriesByDefault: @Sendable (any Error) -> Bool = { !($0 is CircuitOpenError) }

    /// The delay before retry number `attempt` (1-based).
    public func delay(beforeRetry attempt: Int) -> Duration {
        guard let backoff else { return .zero }
        return backoff.delay(forAttempt: attempt, unitRandom: backoff.jitter == 0 ? 0.5 : unitRandom())
    }

    public func execute<T>(isolation: isolated (any Actor)?, _ body: () async throws -> T) async throws -> T {
        var retries = 0
        while true {
            do {
                return try await body()
            } catch {
                let delay = try decide(after: error, retries: retries)
                retries += 1
                if delay > .zero { try await sleeper.sleep(for: delay) }
            }
        }
    }

    public func executeBlocking<T>(_ body: () throws -> T) throws -> T {
        var retries = 0
        while true {
            do {
                return try body()
            } catch {
                let delay = try decide(after: error, retries: retries)
                retries += 1
                if delay > .zero { sleeper.sleepBlocking(for: delay) }
            }
        }
    }

    /// Rethrows what must not be retried; otherwise returns the wait before the next attempt.
    private func decide(after error: any Error, retries: Int) throws -> Duration {
        if error is CancellationError || !handle(error) { throw error }
        guard retries < maxRetries else { throw RetriesExhaustedError(attempts: retries + 1, lastError: error) }
        return delay(beforeRetry: retries + 1)
    }
}
