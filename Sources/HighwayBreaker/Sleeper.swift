#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How a retry policy waits between attempts. The system one really waits; tests pass one that records the
/// delays (and may move a `ManualClock`) instead of sleeping.
public protocol Sleeper: Sendable {
    /// Waits `duration` without blocking a thread; throws `CancellationError` when the task is cancelled.
    func sleep(for duration: Duration) async throws
    /// Blocks the calling thread for `duration`.
    func sleepBlocking(for duration: Duration)
}

/// Waits for real: `Task.sleep` for async code, `nanosleep` for synchronous code.
public struct SystemSleeper: Sleeper {
    /// Creates the system sleeper.
    public init() {}

    public func sleep(for duration: Duration) async throws {
        try await Task.sleep(for: duration)
    }

    public func sleepBlocking(for duration: Duration) {
        let ns = max(0, duration.nanosecondsClamped)
        var request = timespec(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
    }
}
