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
    /// Open: cooldown remaining; forced with a TTL: TTL remaining (milliseconds). Nil otherwise.
    public var retryAfterMs: Int64?
    public var forced: Forced?
    public var halfOpen: HalfOpen?
    /// When the current state began, in milliseconds since the Unix epoch (for display).
    public var changedAtMs: Int64

    public init(
        resource: String, state: BreakerState, generation: UInt64, policy: BreakerPolicy, windowCalls: Int,
        windowFailures: Int, retryAfterMs: Int64?, forced: Forced?, halfOpen: HalfOpen?, changedAtMs: Int64
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
    }

    /// Writes the breaker object. Fields that do not apply (`retry_after_ms`, `forced`, `half_open`) are left out.
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("resource")
        w.string(resource)
        w.key("state")
        w.string(state.rawValue)
        w.key("generation")
        w.integer(generation)
        w.key("policy")
        WirePolicy.write(policy, to: &w)
        w.key("window")
        w.beginObject()
        w.key("calls")
        w.integer(windowCalls)
        w.key("failures")
        w.integer(windowFailures)
        w.endObject()
        if let retryAfterMs {
            w.key("retry_after_ms")
            w.integer(retryAfterMs)
        }
        if let forced {
            w.key("forced")
            w.beginObject()
            w.key("state")
            w.string(forced.state.rawValue)
            w.key("reason")
            if let r = forced.reason { w.string(r) } else { w.null() }
            w.key("by")
            if let b = forced.by { w.string(b) } else { w.null() }
            w.key("remaining_ms")
            if let m = forced.remainingMs { w.integer(m) } else { w.null() }
            w.endObject()
        }
        if let halfOpen {
            w.key("half_open")
            w.beginObject()
            w.key("permits_out")
            w.integer(halfOpen.permitsOut)
            w.key("successes")
            w.integer(halfOpen.successes)
            w.key("failures")
            w.integer(halfOpen.failures)
            w.endObject()
        }
        w.key("changed_at_ms")
        w.integer(changedAtMs)
        w.endObject()
    }
}
