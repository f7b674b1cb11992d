public import BreakerCore
public import BreakerProtocol

/// One breaker as stored: deadlines as wall-clock times (the monotonic clock does not survive a restart).
public struct PersistedBreaker: Sendable, Hashable {
    /// An operator's force, with its wall-clock end.
    public struct Forced: Sendable, Hashable {
        public var target: BreakerForce.Target
        public var reason: String?
        public var by: String?
        /// When the force ends, in ms since the Unix epoch; nil: until released.
        public var untilMs: Int64?

        public init(target: BreakerForce.Target, reason: String?, by: String?, untilMs: Int64?) {
            self.target = target
            self.reason = reason
            self.by = by
            self.untilMs = untilMs
        }
    }

    public var resource: String
    public var policy: BreakerPolicy
    public var state: BreakerState
    public var generation: UInt64
    public var nextPermitSequence: UInt64
    /// When an open breaker's cooldown ends, in ms since the Unix epoch.
    public var openUntilMs: Int64?
    public var forced: Forced?
    public var changedAtMs: Int64
    /// `OutcomeWindow.encoded(now:)`.
    public var window: String
    /// When this row was written, in ms since the Unix epoch (time windows age by the time since).
    public var savedAtMs: Int64

    public init(
        resource: String, policy: BreakerPolicy, state: BreakerState, generation: UInt64, nextPermitSequence: UInt64,
        openUntilMs: Int64?, forced: Forced?, changedAtMs: Int64, window: String, savedAtMs: Int64
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
    }
}

/// A durable change, written in the writer's next transaction.
public enum StoreChange: Sendable {
    /// Insert or replace the breaker's row and append its transitions to the audit log.
    case save(PersistedBreaker, transitions: [TransitionRecord])
    /// Remove the breaker and its audit log.
    case delete(resource: String)
}
