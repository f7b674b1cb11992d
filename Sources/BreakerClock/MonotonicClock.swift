public import BreakerCore

/// A source of monotonic instants. Everything in Highway Breaker that needs "now" takes one of these, so tests
/// use `ManualClock` and never sleep.
public protocol MonotonicClock: Sendable {
    /// The current instant. Never goes backwards.
    var now: MonotonicInstant { get }
}
