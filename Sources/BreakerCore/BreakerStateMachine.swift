/// One circuit breaker's state, as a value with `mutating` operations that take the current instant and return
/// what happened. It does no I/O and reads no clock: the caller supplies `now` and acts on the result
/// (replies, notifies watchers, persists transitions).
///
/// Rules (protocol v1 exposes exactly these):
/// - `closed`: acquire always allowed; after a failure, trip when the window holds at least `minimumCalls`
///   outcomes and failures/calls ≥ `failureThreshold` (and, with `minFailingClients` K > 1, the failures came
///   from at least K distinct clients); after a slow outcome, trip (`slow_call_threshold`) when it holds at
///   least `minimumCalls` and slow/calls ≥ the slow-call threshold. Entering `closed` starts an empty window
///   and returns the cooldown to `cooldown`.
/// - `open`: acquire rejected with the cooldown remaining; outcomes ignored. The first acquire at or after the
///   cooldown moves to `half_open` and gets the first probe permit. The cooldown is `currentCooldown`, scaled
///   by a random factor in [1 − jitter, 1 + jitter]; with a growing cooldown, each `probes_failed` multiplies
///   `currentCooldown` by the multiplier, up to the maximum.
/// - `half_open`: at most `halfOpenPermits` permits in total; only outcomes with a permit of this generation
///   count. When all are in, decide by `successThreshold` (close if reached) or, without one, by
///   `failureThreshold` (open if reached). A permit not reported within `permitTTL` frees its slot. With a
///   slow-call rule, a slow probe counts as a failed one.
/// - Shadow mode runs all of this, but `acquire` allows what it would reject (`wouldAllow` false).
/// - `forced_open` rejects everything; `forced_closed` allows everything, records, never trips. A force may
///   expire; expiry and release return to `closed` with an empty window. `reset` does so from any state.
/// - Every transition increments `generation` (which stops at `maximumCounter`); a report with a permit of an
///   older generation is fenced.
public struct BreakerStateMachine: Sendable {

    struct Probe: Sendable, Hashable {
        var sequence: UInt64
        var expires: MonotonicInstant
    }

    /// The policy in force.
    public internal(set) var policy: BreakerPolicy
    /// The current state.
    public internal(set) var state: BreakerState
    /// Incremented by every transition.
    public internal(set) var generation: UInt64
    /// When the current state began.
    public internal(set) var changedAt: MonotonicInstant
    /// The outcomes remembered in `closed` and `forced_closed`.
    public internal(set) var window: OutcomeWindow
    /// When an `open` breaker's cooldown ends.
    public internal(set) var openUntil: MonotonicInstant
    /// The operator's force, in `forced_open` and `forced_closed`.
    public internal(set) var force: BreakerForce?
    /// The cooldown the next (or current) `open` period lasts before jitter: `cooldown`, grown after each
    /// failed half-open when the policy says so, back to `cooldown` once closed.
    public internal(set) var currentCooldown: Duration
    /// The state of the generator that draws cooldown jitter (SplitMix64), seeded by the caller.
    var randomState: UInt64
    /// The sequence number the next probe permit gets. Restore code sets it past any permit that may still be
    /// held by clients, so that old permits never collide with new ones.
    public var nextPermitSequence: UInt64

    /// Where `generation` and `nextPermitSequence` stop counting: 2^63 − 1, the largest integer a database
    /// column holds. Unreachable in practice (292,000 years at a million transitions a second), but a stored
    /// value may start close to it; past it they stay put rather than wrap around to numbers already used.
    public static let maximumCounter = UInt64(Int64.max)

    // Bounded by construction: a permit is granted only while outstanding + successes + failures is below
    // `policy.halfOpenPermits` (at most 10,000), and each counted report removes one outstanding permit.
    var outstanding: [Probe] = []
    var probeSuccesses = 0
    var probeFailures = 0

    /// A new breaker: `closed`, generation 0, empty window. `randomSeed` seeds the cooldown jitter (give each
    /// breaker its own, so that breakers that open together do not probe together).
    public init(policy: BreakerPolicy, now: MonotonicInstant, randomSeed: UInt64 = 0) {
        self.policy = policy
        self.state = .closed
        self.generation = 0
        self.changedAt = now
        self.window = OutcomeWindow(for: policy)
        self.openUntil = now
        self.force = nil
        self.nextPermitSequence = 1
        self.currentCooldown = policy.cooldown
        self.randomState = randomSeed
    }

    /// Restores a breaker as it was persisted. Half-open probes start afresh (outstanding permits are not
    /// restored); a forced state needs `force` (kept as given, with its `ttl`), an open one `openUntil`.
    public init(
        restoring state: BreakerState,
        policy: BreakerPolicy,
        generation: UInt64,
        changedAt: MonotonicInstant,
        openUntil: MonotonicInstant,
        force: BreakerForce?,
        window: OutcomeWindow?,
        nextPermitSequence: UInt64,
        currentCooldown: Duration? = nil,
        randomSeed: UInt64 = 0
    ) {
        self.policy = policy
        self.state = state
        self.generation = generation
        self.changedAt = changedAt
        self.window = window ?? OutcomeWindow(for: policy)
        self.openUntil = openUntil
        self.force = state.isForced ? force : nil
        self.nextPermitSequence = nextPermitSequence
        self.currentCooldown = Self.cooldown(currentCooldown ?? policy.cooldown, within: policy)
        self.randomState = randomSeed
    }

    // MARK: Calls

    /// Asks whether a call may go ahead at `now`. In shadow mode the answer is always yes; `wouldAllow` says
    /// what enforce mode would have answered.
    public mutating func acquire(now: MonotonicInstant) -> AcquireDecision {
        decide(now: now).applying(policy.mode)
    }

    private mutating func decide(now: MonotonicInstant) -> AcquireDecision {
        var transitions: [BreakerTransition] = []
        expireForce(now: now, into: &transitions)
        switch state {
        case .closed, .forcedClosed:
            return AcquireDecision(allowed: true, permit: nil, retryAfter: nil, transitions: transitions)
        case .forcedOpen:
            let wait = force?.until.map { $0 - now } ?? policy.cooldown
            return AcquireDecision(allowed: false, permit: nil, retryAfter: wait, transitions: transitions)
        case .open:
            guard now >= openUntil else {
                return AcquireDecision(
                    allowed: false,
                    permit: nil,
                    retryAfter: openUntil - now,
                    transitions: transitions
                )
            }
            transitions.append(move(to: .halfOpen, cause: .cooldownElapsed, now: now))
            return grantProbe(now: now, transitions: transitions)
        case .halfOpen:
            return grantProbe(now: now, transitions: transitions)
        }
    }

    /// Reports the outcome of one call, with the probe permit it was granted, if any. `slow`: the call took at
    /// least the slow-call duration (ignored without a slow-call rule). `client`: who reported it, for
    /// `minFailingClients` (0: unknown).
    public mutating func report(
        _ outcome: Outcome,
        permit: Permit?,
        slow: Bool = false,
        client: UInt64 = 0,
        now: MonotonicInstant
    ) -> ReportResult {
        let slow = slow && policy.slowCall != nil
        var transitions: [BreakerTransition] = []
        expireForce(now: now, into: &transitions)
        if let permit, permit.generation != generation {
            return ReportResult(counted: false, ignoredBecause: .stalePermit, transitions: transitions)
        }
        switch state {
        case .open:
            return ReportResult(counted: false, ignoredBecause: .open, transitions: transitions)
        case .forcedOpen:
            return ReportResult(counted: false, ignoredBecause: .forcedOpen, transitions: transitions)
        case .closed, .forcedClosed:
            if permit != nil {
                // A permit of this generation cannot have been granted outside half-open.
                return ReportResult(counted: false, ignoredBecause: .unknownPermit, transitions: transitions)
            }
            switch outcome {
            case .ignored:
                return ReportResult(counted: false, ignoredBecause: .ignoredOutcome, transitions: transitions)
            case .success:
                window.record(successes: 1, failures: 0, slow: slow ? 1 : 0, client: client, now: now)
            case .failure:
                window.record(successes: 0, failures: 1, slow: slow ? 1 : 0, client: client, now: now)
            }
            tripIfThresholdReached(failures: outcome == .failure, slow: slow, now: now, into: &transitions)
            return ReportResult(counted: true, ignoredBecause: nil, transitions: transitions)
        case .halfOpen:
            guard let permit else {
                return ReportResult(counted: false, ignoredBecause: .missingPermit, transitions: transitions)
            }
            expireProbes(now: now)
            guard let index = outstanding.firstIndex(where: { $0.sequence == permit.sequence }) else {
                return ReportResult(counted: false, ignoredBecause: .unknownPermit, transitions: transitions)
            }
            outstanding.remove(at: index)
            switch outcome {
            case .ignored:
                return ReportResult(counted: false, ignoredBecause: .ignoredOutcome, transitions: transitions)
            case .success where slow: probeFailures += 1
            case .success: probeSuccesses += 1
            case .failure: probeFailures += 1
            }
            decideIfProbesComplete(now: now, into: &transitions)
            return ReportResult(counted: true, ignoredBecause: nil, transitions: transitions)
        }
    }

    /// Reports many outcomes without permits at once (successes first, then failures; `slow` of them, the last
    /// ones, were slow). Counted only in `closed` and `forced_closed`. Each rule is checked once for the batch:
    /// the failure rule when it held a failure, the slow-call rule when it held a slow outcome.
    public mutating func record(
        successes: Int,
        failures: Int,
        slow: Int = 0,
        client: UInt64 = 0,
        now: MonotonicInstant
    ) -> ReportResult {
        let slow = policy.slowCall == nil ? 0 : slow
        var transitions: [BreakerTransition] = []
        expireForce(now: now, into: &transitions)
        switch state {
        case .open: return ReportResult(counted: false, ignoredBecause: .open, transitions: transitions)
        case .forcedOpen: return ReportResult(counted: false, ignoredBecause: .forcedOpen, transitions: transitions)
        case .halfOpen: return ReportResult(counted: false, ignoredBecause: .missingPermit, transitions: transitions)
        case .closed, .forcedClosed:
            window.record(
                successes: max(0, successes),
                failures: max(0, failures),
                slow: slow,
                client: client,
                now: now
            )
            tripIfThresholdReached(failures: failures > 0, slow: slow > 0, now: now, into: &transitions)
            return ReportResult(counted: true, ignoredBecause: nil, transitions: transitions)
        }
    }

    // MARK: Operators

    /// Forces the breaker open or closed, until `ttl` has passed (nil: until released). The force keeps `ttl`.
    public mutating func force(
        _ target: BreakerForce.Target,
        ttl: Duration?,
        reason: String?,
        by: String?,
        now: MonotonicInstant
    ) -> BreakerTransition {
        let transition = move(to: target == .open ? .forcedOpen : .forcedClosed, cause: .forced, now: now)
        force = BreakerForce(target: target, reason: reason, by: by, until: ttl.map { now + $0 }, ttl: ttl)
        return transition
    }

    /// Ends a force: back to `closed` with an empty window. Nil (nothing changes) when not forced.
    public mutating func release(now: MonotonicInstant) -> BreakerTransition? {
        guard state.isForced else { return nil }
        return move(to: .closed, cause: .released, now: now)
    }

    /// Returns any state to `closed` with an empty window.
    public mutating func reset(now: MonotonicInstant) -> BreakerTransition {
        move(to: .closed, cause: .reset, now: now)
    }

    /// Replaces the policy. A breaker in an automatic state returns to `closed` with an empty window (a
    /// `configured` transition); a forced one stays forced (its window restarts in the new shape).
    public mutating func configure(_ newPolicy: BreakerPolicy, now: MonotonicInstant) -> BreakerTransition? {
        policy = newPolicy
        window = OutcomeWindow(for: newPolicy)
        currentCooldown = newPolicy.cooldown
        guard !state.isForced else { return nil }
        return move(to: .closed, cause: .configured, now: now)
    }

    /// Applies time alone: ends a force whose TTL has passed and frees expired probe permits. A server calls
    /// this from a timer so that watchers hear of expiries without waiting for traffic.
    public mutating func expire(now: MonotonicInstant) -> BreakerTransition? {
        var transitions: [BreakerTransition] = []
        expireForce(now: now, into: &transitions)
        if state == .halfOpen { expireProbes(now: now) }
        return transitions.first
    }

    // MARK: Reading

    /// How long until an `open` breaker's cooldown ends, or a forced breaker's TTL; nil otherwise. Never negative.
    public func retryAfter(now: MonotonicInstant) -> Duration? {
        switch state {
        case .open: max(openUntil - now, .zero)
        case .forcedOpen, .forcedClosed: force?.until.map { max($0 - now, .zero) }
        case .closed, .halfOpen: nil
        }
    }

    /// In `half_open`: permits granted and not yet reported, and the probe outcomes so far.
    public var halfOpenCounts: (permitsOut: Int, successes: Int, failures: Int) {
        (outstanding.count, probeSuccesses, probeFailures)
    }

    /// The earliest instant at which `expire(now:)` would change something (a force TTL or a probe permit
    /// expiry), or nil when nothing is pending.
    public var nextExpiry: MonotonicInstant? {
        if let until = force?.until { return until }
        if state == .halfOpen { return outstanding.map(\.expires).min() }
        return nil
    }
}
