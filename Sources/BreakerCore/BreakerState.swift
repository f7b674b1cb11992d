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
