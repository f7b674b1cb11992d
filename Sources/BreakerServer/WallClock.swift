#if canImport(Glibc)
import Glibc
#endif

/// Milliseconds since the Unix epoch, for display stamps (`*_at_ms`) only: expiry runs on the monotonic clock.
public typealias WallClock = @Sendable () -> Int64

/// The system's wall clock (`CLOCK_REALTIME`), in milliseconds since the Unix epoch.
public let systemWallClock: WallClock = {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000 + Int64(ts.tv_nsec) / 1_000_000
}
