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
