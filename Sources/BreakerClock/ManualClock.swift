public import BreakerCore
import Synchronization

/// A clock that moves only when told to: for tests of time-based rules without sleeping.
///
/// Safe to share between tasks; `advance(by:)` is seen by every later `now`.
public final class ManualClock: MonotonicClock {
    private let instant: Mutex<MonotonicInstant>

    /// A clock standing at `start` (default: 1,000 s after the origin, so that instants minus a cooldown stay
    /// positive in tests).
    public init(start: MonotonicInstant = MonotonicInstant(nanoseconds: 1_000_000_000_000)) {
        instant = Mutex(start)
    }

    /// The current instant.
    public var now: MonotonicInstant { instant.withLock { $0 } }

    /// Moves the clock forward by `duration` (a negative duration is ignored: monotonic clocks never go back).
    public func advance(by duration: Duration) {
        guard duration > .zero else { return }
        instant.withLock { $0 = $0 + duration }
    }
}
