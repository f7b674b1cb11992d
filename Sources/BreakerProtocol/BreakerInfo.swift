public import BreakerCore

/// The breaker object of protocol v1, as `status`, `list`, `configure`, `force`, `release` and `reset` return it.
public struct BreakerInfo: Sendable, Hashable {
    /// An operator's force.
    public struct Forced: Sendable, Hashable {
        public var state: BreakerForce.Target
        public var reason: String?
        public var by: String?
        /// Time left until the force ends by itself, in milliseconds; nil: until released.
        public var remainingMs: Int64?

        public init(state: BreakerForce.Target, reason: String?, by: String?, remainingMs: Int64?) {
            self.state = state
            self.reason = reason
            self.by = by
            self.remainingMs = remainingMs
        }
    }

    /// The half-open probe tally.
    public struct HalfOpen: Sendable, Hashable {
        public var permitsOut: Int
        public var successes: Int
        public var failures: Int

        public init(permitsOut: Int, successes: Int, failures: Int) {
            self.permitsOut = permitsOut
            self.successes = successes
            self.failures = failures
        }
    }

    public var resource: String
    public var state: BreakerState
    public var generation: UInt64
    public var policy: BreakerPolicy
    /// Outcomes in the window, and how many of them are failures.
    public var windowCalls: Int
    public var windowFailures: Int
    /// Slow outcomes in the window (0 without a slow-call rule).
    public var windowSlow: Int
    /// Distinct clients with a failure in the window (0 unless the policy's `min_failing_clients` is above 1).
    public var windowFailingClients: Int
    /// The cooldown the current or next `open` period lasts before jitter, in milliseconds: the policy's
    /// `cooldown_ms`, grown after failed half-opens when the policy has `cooldown_max_ms`.
    public var cooldownCurrentMs: Int64
    /// Open: cooldown remaining; forced with a TTL: TTL remaining (milliseconds). Nil otherwise.
    public var retryAfterMs: Int64?
    public var forced: Forced?
    public var halfOpen: HalfOpen?
    /// When the current state began, in milliseconds since the Unix epoch (for display).
    public var changedAtMs: Int64
    /// How many connections hold a live lease on the breaker (`status` only; nil, and left out of the object,
    /// when none does or the reply is not a `status`).
    public var leases: Int?

    public init(
        resource: String,
        state: BreakerState,
        generation: UInt64,
        policy: BreakerPolicy,
        windowCalls: Int,
        windowFailures: Int,
        retryAfterMs: Int64?,
        forced: Forced?,
        halfOpen: HalfOpen?,
        changedAtMs: Int64,
        leases: Int? = nil,
        windowSlow: Int = 0,
        windowFailingClients: Int = 0,
        cooldownCurrentMs: Int64? = nil
    ) {
        self.resource = resource
        self.state = state
        self.generation = generation
        self.policy = policy
        self.windowCalls = windowCalls
        self.windowFailures = windowFailures
        self.retryAfterMs = retryAfterMs
        self.forced = forced
        self.halfOpen = halfOpen
        self.changedAtMs = changedAtMs
        self.leases = leases
        self.windowSlow = windowSlow
        self.windowFailingClients = windowFailingClients
        self.cooldownCurrentMs = cooldownCurrentMs ?? policy.cooldown.millisecondsRoundedUp
    }

    /// Writes the breaker object. Fields that do not apply (`retry_after_ms`, `forced`, `half_open`, `leases`) are
    /// left out; `cooldown_ms_current` and the window's `slow` and `failing_clients` are always there.
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.member("resource", resource)
        w.member("state", state.rawValue)
        w.member("generation", generation)
        w.key("policy")
        WirePolicy.write(policy, to: &w)
        w.key("window")
        w.beginObject()
        w.member("calls", windowCalls)
        w.member("failures", windowFailures)
        w.member("slow", windowSlow)
        w.member("failing_clients", windowFailingClients)
        w.endObject()
        w.member("cooldown_ms_current", cooldownCurrentMs)
        if let retryAfterMs {
            w.member("retry_after_ms", retryAfterMs)
        }
        if let forced {
            w.key("forced")
            w.beginObject()
            w.member("state", forced.state.rawValue)
            w.member("reason", orNull: forced.reason)
            w.member("by", orNull: forced.by)
            w.member("remaining_ms", orNull: forced.remainingMs)
            w.endObject()
        }
        if let halfOpen {
            w.key("half_open")
            w.beginObject()
            w.member("permits_out", halfOpen.permitsOut)
            w.member("successes", halfOpen.successes)
            w.member("failures", halfOpen.failures)
            w.endObject()
        }
        if let leases {
            w.member("leases", leases)
        }
        w.member("changed_at_ms", changedAtMs)
        w.endObject()
    }
}
