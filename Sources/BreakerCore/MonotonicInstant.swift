/// A point on a monotonic clock, in nanoseconds from an arbitrary origin.
///
/// BreakerCore never reads a clock: every operation of the state machine takes the current instant as a
/// parameter, so every time-based rule can be tested by passing instants, without sleeping.
public struct MonotonicInstant: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Nanoseconds since the clock's origin.
    public var nanoseconds: Int64

    /// Creates an instant `nanoseconds` after the clock's origin.
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    /// The clock's origin.
    public static let zero = MonotonicInstant(nanoseconds: 0)

    /// The earlier of two instants.
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    /// The instant `duration` later (saturating rather than overflowing).
    public static func + (lhs: Self, rhs: Duration) -> Self {
        let (sum, overflow) = lhs.nanoseconds.addingReportingOverflow(rhs.nanosecondsClamped)
        return MonotonicInstant(nanoseconds: overflow ? (rhs < .zero ? .min : .max) : sum)
    }

    /// The duration from `rhs` to `lhs` (negative when `lhs` is earlier), saturating at ±(2^63 − 1) ns (about
    /// ±292 years) rather than wrapping around.
    public static func - (lhs: Self, rhs: Self) -> Duration {
        .nanoseconds(lhs.nanoseconds.subtractingSaturated(rhs.nanoseconds))
    }

    /// Nanoseconds since the clock's origin, with their unit.
    public var description: String { "\(nanoseconds)ns" }
}

extension Duration {
    /// This duration in whole nanoseconds, clamped to the range of `Int64` (about ±292 years).
    public var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (ns, o1) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (total, o2) = ns.addingReportingOverflow(attoseconds / 1_000_000_000)
        if o1 || o2 { return seconds < 0 ? .min : .max }
        return total
    }

    /// This duration in whole milliseconds, rounded up so that a positive remainder never reads as 0.
    public var millisecondsRoundedUp: Int64 {
        let ns = nanosecondsClamped
        if ns <= 0 { return ns / 1_000_000 }
        return (ns - 1) / 1_000_000 + 1
    }
}
