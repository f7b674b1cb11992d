/// Why a breaker changed state. The raw values are the wire protocol's names.
public enum TransitionCause: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// closed → open: the window reached the failure threshold.
    case failureThreshold = "failure_threshold"
    /// closed → open: slow outcomes in the window reached the slow-call threshold.
    case slowCallThreshold = "slow_call_threshold"
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
