import BreakerCore

extension PersistedBreaker {
    /// What is left of the cooldown and of the force when restoring at wall-clock `nowMs`, clamped so a wall
    /// clock that stepped back cannot stretch them: remaining cooldown ≤ the longest this open period can last
    /// (`longestCooldown`), remaining TTL ≤ the TTL it was set with (rows from schema 1 have no TTL stored: clamp
    /// to BreakerPolicy.maximumDuration, 30 days).
    /// A deadline already past counts as elapsed (zero). `clockStepMs` is how far beyond the clamp the stored
    /// deadline lay (0 when none), for one log line per restore.
    ///
    /// - Parameter nowMs: the restoring server's wall clock, in ms since the Unix epoch.
    /// - Returns: `cooldown`, nil unless `openUntilMs` is set; `force`, nil unless the force has `untilMs`;
    ///   `clockStepMs`, in ms, the larger of the two overshoots.
    public func remaining(atWallMs nowMs: Int64) -> (cooldown: Duration?, force: Duration?, clockStepMs: Int64) {
        var clockStepMs: Int64 = 0
        func left(until deadlineMs: Int64, atMost limit: Duration) -> Duration {
            let (difference, overflow) = deadlineMs.subtractingReportingOverflow(nowMs)
            let leftMs = overflow ? (deadlineMs > nowMs ? Int64.max : Int64.min) : difference
            guard leftMs > 0 else { return .zero }
            let limitMs = max(0, limit.millisecondsRoundedUp)
            if leftMs > limitMs { clockStepMs = max(clockStepMs, leftMs - limitMs) }
            return min(.milliseconds(leftMs), max(.zero, limit))
        }
        let cooldown = openUntilMs.map { left(until: $0, atMost: longestCooldown) }
        let force = forced.flatMap { forced in
            forced.untilMs.map { untilMs in
                left(until: untilMs, atMost: forced.ttlMs.map { .milliseconds($0) } ?? BreakerPolicy.maximumDuration)
            }
        }
        return (cooldown, force, clockStepMs)
    }

    /// The current cooldown (`cooldownCurrentMs`, else the policy's), within the policy's bounds.
    public var currentCooldown: Duration {
        BreakerStateMachine.cooldown(cooldownCurrentMs.map { .milliseconds($0) } ?? policy.cooldown, within: policy)
    }

    /// The longest an open period of this breaker lasts: its current cooldown scaled by 1 + the policy's jitter.
    public var longestCooldown: Duration {
        currentCooldown * (1 + policy.cooldownJitter)
    }
}
