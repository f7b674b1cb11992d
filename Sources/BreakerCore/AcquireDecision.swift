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
    /// False when a breaker in shadow mode allowed a call that enforce mode would have rejected (`allowed` is
    /// then true, and there is no permit and no `retryAfter`); true otherwise.
    public let wouldAllow: Bool

    init(allowed: Bool, permit: Permit?, retryAfter: Duration?, transitions: [BreakerTransition]) {
        self.allowed = allowed
        self.permit = permit
        self.retryAfter = retryAfter
        self.transitions = transitions
        self.wouldAllow = true
    }

    private init(shadowing rejected: AcquireDecision) {
        self.allowed = true
        self.permit = nil
        self.retryAfter = nil
        self.transitions = rejected.transitions
        self.wouldAllow = false
    }

    /// The decision in `mode`: a rejection in shadow mode becomes an allowance that would not have been.
    func applying(_ mode: BreakerPolicy.Mode) -> AcquireDecision {
        mode == .shadow && !allowed ? AcquireDecision(shadowing: self) : self
    }
}
