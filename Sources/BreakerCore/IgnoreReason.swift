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

    /// The wire name.
    public var description: String { rawValue }
}
