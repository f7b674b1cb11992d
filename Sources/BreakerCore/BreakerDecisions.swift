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

/// Why a reported outcome was not counted.
public enum IgnoreReason: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The outcome was `ignored`.
    case ignoredOutcome = "ignored_outcome"
    /// The breaker is open: outcomes of calls that slipped through are not counted.
    case open
    /// The breaker is forced open.
    case forcedOpen = "forced_open"
    /// The permit belongs to an older generation (fenced).
    case stalePermit = "stale_permit"
    /// The permit is of this generation but not outstanding: expired, already reported, or never granted.
    case unknownPermit = "unknown_permit"
    /// In half-open only outcomes that carry a probe permit count.
    case missingPermit = "missing_permit"

    public var description: String { rawValue }
}

/// The answer to `report`: whether the outcome counted, and what it changed.
public struct ReportResult: Sendable, Hashable {
    /// True when the outcome entered the window or the half-open tally.
    public let counted: Bool
    /// Why it did not count, when it did not.
    public let ignoredBecause: IgnoreReason?
    /// Transitions this report caused, oldest first.
    public let transitions: [BreakerTransition]

    init(counted: Bool, ignoredBecause: IgnoreReason?, transitions: [BreakerTransition]) {
        self.counted = counted
        self.ignoredBecause = ignoredBecause
        self.transitions = transitions
    }
}

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
