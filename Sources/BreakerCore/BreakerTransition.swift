/// One change of state. Every transition increments the breaker's generation.
public struct BreakerTransition: Sendable, Hashable, CustomStringConvertible {
    /// The state before.
    public let from: BreakerState
    /// The state after.
    public let to: BreakerState
    /// Why it happened.
    public let cause: TransitionCause
    /// The breaker's generation after the transition.
    public let generation: UInt64
    /// When it happened, on the caller's monotonic clock.
    public let at: MonotonicInstant
    /// True when the breaker's policy was in shadow mode (nothing was enforced).
    public let shadow: Bool

    /// Creates a transition value (the state machine makes these; restore code may too).
    public init(
        from: BreakerState,
        to: BreakerState,
        cause: TransitionCause,
        generation: UInt64,
        at: MonotonicInstant,
        shadow: Bool = false
    ) {
        self.from = from
        self.to = to
        self.cause = cause
        self.generation = generation
        self.at = at
        self.shadow = shadow
    }

    /// `from -> to (cause, generation N)`.
    public var description: String { "\(from) -> \(to) (\(cause), generation \(generation))" }
}
