/// The answer to `acquire`: go ahead (with a probe permit in half-open), or wait.
public struct AcquireDecision: Sendable, Hashable {
    /// True when the caller may make the protected call.
    public let allowed: Bool
    /// Set when a half-open probe permit was granted: report the outcome with it.
    public let permit: Permit?
    /// When rejected: how long until asking again is worthwhile.
    public let retryAfter: Duration?
    /// Transitions this acquire caused (open → half_open, or a force that expired), oldest first.
    public let transitions: [BreakerTransition]

    init(allowed: Bool, permit: Permit?, retryAfter: Duration?, transitions: [BreakerTransition]) {
        self.allowed = allowed
        self.permit = permit
        self.retryAfter = retryAfter
        self.transitions = transitions
    }
}
