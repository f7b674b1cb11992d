public import BreakerCore

/// One breaker as stored: deadlines as wall-clock times (the monotonic clock does not survive a restart).
public struct PersistedBreaker: Sendable, Hashable {
    /// An operator's force, with its wall-clock end.
    public struct Forced: Sendable, Hashable {
        /// Which way the breaker is forced.
        public var target: BreakerForce.Target
        /// Why, as the operator said it.
        public var reason: String?
        /// Who forced it (a client name or role).
        public var by: String?
        /// When the force ends, in ms since the Unix epoch; nil: until released.
        public var untilMs: Int64?
        /// The time to live it was set with, in ms; nil when set without one, or stored by schema 1.
        public var ttlMs: Int64?

        /// Creates a stored force; `untilMs` in ms since the Unix epoch, `ttlMs` in ms.
        public init(target: BreakerForce.Target, reason: String?, by: String?, untilMs: Int64?, ttlMs: Int64? = nil) {
            self.target = target
            self.reason = reason
            self.by = by
            self.untilMs = untilMs
            self.ttlMs = ttlMs
        }
    }

    /// The breaker's name.
    public var resource: String
    /// The policy in force (stored as `BreakerPolicy.encoded`).
    public var policy: BreakerPolicy
    /// The state when saved.
    public var state: BreakerState
    /// The breaker's generation when saved.
    public var generation: UInt64
    /// The sequence number the next probe permit gets (`BreakerStateMachine.nextPermitSequence`).
    public var nextPermitSequence: UInt64
    /// When an open breaker's cooldown ends, in ms since the Unix epoch.
    public var openUntilMs: Int64?
    /// The operator's force, in `forced_open` and `forced_closed`.
    public var forced: Forced?
    /// When the state began, in ms since the Unix epoch.
    public var changedAtMs: Int64
    /// `OutcomeWindow.encoded(now:)`.
    public var window: String
    /// When this row was written, in ms since the Unix epoch (time windows age by the time since).
    public var savedAtMs: Int64
    /// The breaker's current cooldown before jitter (`BreakerStateMachine.currentCooldown`), in ms; nil when it
    /// is the policy's `cooldown` (stored as NULL).
    public var cooldownCurrentMs: Int64?

    /// Creates a row; every `…Ms` instant is in ms since the Unix epoch.
    public init(
        resource: String,
        policy: BreakerPolicy,
        state: BreakerState,
        generation: UInt64,
        nextPermitSequence: UInt64,
        openUntilMs: Int64?,
        forced: Forced?,
        changedAtMs: Int64,
        window: String,
        savedAtMs: Int64,
        cooldownCurrentMs: Int64? = nil
    ) {
        self.resource = resource
        self.policy = policy
        self.state = state
        self.generation = generation
        self.nextPermitSequence = nextPermitSequence
        self.openUntilMs = openUntilMs
        self.forced = forced
        self.changedAtMs = changedAtMs
        self.window = window
        self.savedAtMs = savedAtMs
        self.cooldownCurrentMs = cooldownCurrentMs
    }
}
