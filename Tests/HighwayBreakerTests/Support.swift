import HighwayBreaker
import Synchronization

/// Records every delay instead of sleeping, and moves a manual clock by it (so cooldowns pass during backoff).
final class RecordingSleeper: Sleeper {
    private let recorded = Mutex<[Duration]>([])
    let clock: ManualClock?

    init(clock: ManualClock? = nil) { self.clock = clock }

    var delays: [Duration] { recorded.withLock { $0 } }

    func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        sleepBlocking(for: duration)
    }

    func sleepBlocking(for duration: Duration) {
        recorded.withLock { $0.append(duration) }
        clock?.advance(by: duration)
    }
}

/// Collects what a breaker's `onStateChange` reports.
final class TransitionLog: Sendable {
    private let entries = Mutex<[(BreakerState, BreakerState)]>([])

    var pairs: [String] { entries.withLock { $0.map { "\($0.0)->\($0.1)" } } }

    func handler() -> CircuitBreakerPolicy.StateChangeHandler {
        { _, from, to in self.entries.withLock { $0.append((from, to)) } }
    }
}

/// A counter safe to bump from many tasks.
final class Counter: Sendable {
    private let value = Mutex(0)
    func bump() { value.withLock { $0 += 1 } }
    var count: Int { value.withLock { $0 } }
}

// Errors standing in for the Python exceptions of the seeds.
struct ConnectionError: Error, Equatable {}
struct TimeoutError: Error, Equatable {}
struct OperationalError: Error, Equatable {}
struct DatabaseError: Error, Equatable {}
struct ValueError: Error, Equatable { var message = "" }
struct HTTPError: Error, Equatable { var statusCode: Int }
struct MessageError: Error, Equatable { var message: String }

/// Runs `breaker` over `outcomes` (true = the call fails with `error`), swallowing errors.
func drive(_ breaker: CircuitBreakerPolicy, _ outcomes: [Bool], error: any Error = ConnectionError()) async {
    for fails in outcomes {
        _ = try? await breaker.run { if fails { throw error } }
    }
}

/// SplitMix64: a seeded generator, so that jitter is the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Runs `breaker` once: the call takes `duration` on `clock` and fails with `ConnectionError` when `fails`;
/// errors are swallowed.
func drive(_ breaker: CircuitBreakerPolicy, taking duration: Duration, on clock: ManualClock, fails: Bool = false) {
    _ = try? breaker.runBlocking {
        clock.advance(by: duration)
        if fails { throw ConnectionError() }
    }
}

/// The retry-after of the rejection a call gets now (nil when the call is allowed; it then runs and succeeds).
func rejectionRetryAfter(_ breaker: CircuitBreakerPolicy) -> Duration? {
    do {
        try breaker.runBlocking {}
        return nil
    } catch let error as CircuitOpenError {
        return error.retryAfter
    } catch {
        return nil
    }
}
