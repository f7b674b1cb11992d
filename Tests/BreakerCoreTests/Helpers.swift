import BreakerCore

/// An instant `ms` milliseconds after an origin well above zero.
func at(_ ms: Int64) -> MonotonicInstant { MonotonicInstant(nanoseconds: 1_000_000_000_000 + ms * 1_000_000) }

func policy(
    _ failure: String,
    success: String? = nil,
    cooldownMs: Int64 = 30_000,
    window: BreakerPolicy.Window? = nil,
    minimumCalls: Int? = nil,
    permits: Int? = nil,
    permitTTLMs: Int64 = 10_000
) throws -> BreakerPolicy {
    try BreakerPolicy(
        failureThreshold: Fraction(parsing: failure)!,
        successThreshold: success.map { Fraction(parsing: $0)! },
        cooldown: .milliseconds(cooldownMs),
        window: window,
        minimumCalls: minimumCalls,
        halfOpenPermits: permits,
        permitTTL: .milliseconds(permitTTLMs)
    )
}

extension BreakerStateMachine {
    /// Reports `outcomes` without permits at `now`; returns every transition they caused.
    mutating func feed(_ outcomes: [Outcome], now: MonotonicInstant) -> [BreakerTransition] {
        outcomes.flatMap { report($0, permit: nil, now: now).transitions }
    }

    /// Trips a fresh breaker with a count window by reporting failures until it opens.
    mutating func trip(now: MonotonicInstant) {
        var n = 0
        while state == .closed && n < 1_000_000 {
            _ = report(.failure, permit: nil, now: now)
            n += 1
        }
    }
}

let S = Outcome.success
let F = Outcome.failure
