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
