/// An operator's force, with its optional expiry.
public struct BreakerForce: Sendable, Hashable {
    /// Which way the breaker is forced.
    public enum Target: String, Sendable, Hashable, CaseIterable {
        /// Reject every call.
        case open
        /// Allow every call; never trip.
        case closed
    }

    /// Which way.
    public let target: Target
    /// Why, as the operator said it.
    public let reason: String?
    /// Who forced it (a client name or role).
    public let by: String?
    /// When the force ends by itself; nil means until released.
    public let until: MonotonicInstant?
    /// The time to live it was set with (nil: until released, or not known, as for forces restored from a
    /// database of schema 1). Restore code clamps what is left of a force to it, so that a wall clock that
    /// stepped back cannot stretch the force.
    public var ttl: Duration?

    /// Creates a force value; `ttl` is the time to live it was set with, when known.
    public init(target: Target, reason: String?, by: String?, until: MonotonicInstant?, ttl: Duration? = nil) {
        self.target = target
        self.reason = reason
        self.by = by
        self.until = until
        self.ttl = ttl
    }

    /// The state a breaker with this force is in.
    public var state: BreakerState { target == .open ? .forcedOpen : .forcedClosed }
}
