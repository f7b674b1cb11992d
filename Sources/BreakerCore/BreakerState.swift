/// The five states of a breaker. The raw values are the wire protocol's names.
public enum BreakerState: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Calls flow; outcomes enter the window; enough failures trip the breaker open.
    case closed
    /// Calls are rejected until the cooldown has passed.
    case open
    /// A limited number of probe permits are granted; their outcomes decide between closed and open.
    case halfOpen = "half_open"
    /// An operator forced the breaker open: every call is rejected.
    case forcedOpen = "forced_open"
    /// An operator forced the breaker closed: every call is allowed, outcomes are recorded, it never trips.
    case forcedClosed = "forced_closed"

    /// True for the states an operator set (`forced_open`, `forced_closed`).
    public var isForced: Bool { self == .forcedOpen || self == .forcedClosed }

    /// The wire name, for example `half_open`.
    public var description: String { rawValue }
}

/// Why a breaker changed state. The raw values are the wire protocol's names.
public enum TransitionCause: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// closed → open: the window reached the failure threshold.
    case failureThreshold = "failure_threshold"
    /// open → half_open: the first acquire at or after the cooldown.
    case cooldownElapsed = "cooldown_elapsed"
    /// half_open → closed: the probes met the success threshold (or stayed under the failure threshold).
    case probesSucceeded = "probes_succeeded"
    /// half_open → open: the probes did not meet the success threshold (or met the failure threshold).
    case probesFailed = "probes_failed"
    /// An operator forced the breaker open or closed.
    case forced
    /// An operator released a force: back to closed with an empty window.
    case released
    /// A force's time to live ran out: back to closed with an empty window.
    case forceExpired = "force_expired"
    /// An operator reset the breaker: closed with an empty window.
    case reset
    /// An operator replaced the policy of a breaker in an automatic state: closed with an empty window.
    case configured

    /// The wire name, for example `failure_threshold`.
    public var description: String { rawValue }
}

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

    /// Creates a transition value (the state machine makes these; restore code may too).
    public init(from: BreakerState, to: BreakerState, cause: TransitionCause, generation: UInt64, at: MonotonicInstant) {
        self.from = from
        self.to = to
        self.cause = cause
        self.generation = generation
        self.at = at
    }

    public var description: String { "\(from) -> \(to) (\(cause), generation \(generation))" }
}

/// A half-open probe permit: the right to make one probe call and report its outcome.
///
/// A permit belongs to the generation in which it was granted. A report that carries a permit of an older
/// generation is fenced: ignored, and the result says so. On the wire a permit is the string
/// `"<generation>.<sequence>"`.
public struct Permit: Sendable, Hashable, CustomStringConvertible {
    /// The breaker generation that granted the permit.
    public let generation: UInt64
    /// A number unique among the permits the breaker granted.
    public let sequence: UInt64

    /// Creates a permit value.
    public init(generation: UInt64, sequence: UInt64) {
        self.generation = generation
        self.sequence = sequence
    }

    /// Parses `"<generation>.<sequence>"`; nil for anything else.
    public init?(parsing text: some StringProtocol) {
        guard let dot = text.firstIndex(of: "."),
            let g = UInt64(text[text.startIndex..<dot]),
            let s = UInt64(text[text.index(after: dot)...])
        else { return nil }
        self.init(generation: g, sequence: s)
    }

    /// `"<generation>.<sequence>"`.
    public var description: String { "\(generation).\(sequence)" }
}
