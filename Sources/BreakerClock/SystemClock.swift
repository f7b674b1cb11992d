public import BreakerCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The machine's monotonic clock (`CLOCK_MONOTONIC`): unaffected by wall-clock changes.
public struct SystemClock: MonotonicClock {
    /// Creates the system clock.
    public init() {}

    /// The current instant.
    @inlinable
    public var now: MonotonicInstant { Self.read() }

    /// Reads `CLOCK_MONOTONIC`.
    @inlinable
    public static func read() -> MonotonicInstant {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return MonotonicInstant(nanoseconds: Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec))
    }
}
