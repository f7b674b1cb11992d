import Synchronization

/// An in-process circuit breaker: the seeds' `CircuitBreakerPolicy`, on BreakerCore's state machine.
///
/// ```swift
/// let breaker = try CircuitBreakerPolicy(cooldown: .seconds(30), failureThreshold: Fraction(2, 5))
/// let user = try await breaker.run { try await db.user(id) }
/// ```
/// A rejected call throws `CircuitOpenError` (retry-after included) without running. An error for which
/// `handle` returns false is rethrown and counted as a success, as the seeds do; `CancellationError` is
/// reported as `ignored` (it says nothing about the dependency). One instance is safe to share between any
/// number of tasks.
///
/// Issue #16's rules work here too:
/// - A slow-call rule (`slowCallDuration`, `slowCallThreshold`): the breaker times each call with its clock
///   and trips (cause `slow_call_threshold`) when slow calls reach the threshold, failed or not.
/// - A growing cooldown (`maxCooldown`, `cooldownMultiplier`): each failed half-open multiplies the cooldown,
///   up to `maxCooldown`; closing returns it to `cooldown`. `cooldownJitter` scales each cooldown by a random
///   factor in [1 − jitter, 1 + jitter], drawn from the injected generator.
/// - Shadow mode (`mode: .shadow`): the state machine runs as in enforce mode (transitions reach
///   `onStateChange`), but no call is ever rejected. Each call that enforce mode would have rejected runs,
///   calls `onShadowRejection` with the state that would have rejected it, and counts in
///   `shadowRejectionCount`; its outcome is not counted (as enforce mode would not have counted it).
public final class CircuitBreakerPolicy: ResiliencePolicy {
    /// Called after each state change with the policy, the old state and the new state. It runs on the thread
    /// that caused the change, outside the breaker's lock (it may read `state` and `history`).
    public typealias StateChangeHandler = @Sendable (CircuitBreakerPolicy, BreakerState, BreakerState) -> Void

    /// Called in shadow mode for each call that enforce mode would have rejected (the call runs), with the
    /// policy and the state that would have rejected it (`open`, `half_open` with every probe permit taken, or
    /// `forced_open`). It runs on the calling thread, outside the breaker's lock.
    public typealias ShadowRejectionHandler = @Sendable (CircuitBreakerPolicy, BreakerState) -> Void

    private struct State: Sendable {
        var machine: BreakerStateMachine
        var history: OutcomeHistory
    }

    /// A name for errors and logs (nil for an anonymous breaker).
    public let name: String?
    /// A pthread lock rather than `Mutex`: application threads contend on it, and they may outnumber the cores
    /// (`Lock` says why that matters).
    private let storage: Lock<State>
    private let handle: @Sendable (any Error) -> Bool
    private let onStateChange: StateChangeHandler?
    private let onShadowRejection: ShadowRejectionHandler?
    private let clock: any MonotonicClock
    /// The policy's slow-call duration (nil: calls are not timed). Kept outside the lock: the policy never
    /// changes, and a call reads it before and after it runs.
    private let slowCallDuration: Duration?
    private let shadowRejections = Atomic<Int>(0)
    /// Where calls are counted and timed (nil without a metrics backend: `CallMetrics`).
    private let metrics: CallMetrics?

    /// Creates a breaker with the seeds' parameters, and issue #16's.
    ///
    /// - Parameters:
    ///   - cooldown: how long to stay open before probing (default 30 s).
    ///   - failureThreshold: trip when at least `k` of the last `n` calls failed (default 10/20).
    ///   - successThreshold: in half-open, close when at least `k` of `n` probes succeeded (default: decide by
    ///     `failureThreshold`, as the seeds do).
    ///   - slowCallDuration: a call that takes at least this long (measured with `clock`) is slow, whether it
    ///     succeeds or fails; with `slowCallThreshold` (both or neither). Default: no slow-call rule.
    ///   - slowCallThreshold: trip when at least `k` of the last `n` calls were slow.
    ///   - maxCooldown: each failed half-open multiplies the cooldown by `cooldownMultiplier`, up to this (at
    ///     least `cooldown`); closing returns it to `cooldown`. Default: a fixed cooldown.
    ///   - cooldownMultiplier: 1.0 to 10.0 (default 2.0); only with `maxCooldown`.
    ///   - cooldownJitter: 0 to 1: each cooldown is scaled by a random factor in [1 − jitter, 1 + jitter]
    ///     (default 0: none).
    ///   - mode: `.enforce` (default) or `.shadow` (never rejects; see `onShadowRejection`).
    ///   - handle: which errors count as failures (default: all). Others are rethrown and count as successes.
    ///   - onStateChange: called after every state change.
    ///   - onShadowRejection: in shadow mode, called for each call enforce mode would have rejected.
    ///   - name: a name for errors and logs.
    ///   - clock: the time source for cooldowns and call durations (tests pass a `ManualClock`).
    ///   - generator: the source of the cooldown jitter's randomness (tests pass a seeded one); the breaker
    ///     draws one 64-bit seed from it when it is made.
    /// - Throws: `BreakerPolicyError` naming the field when a value cannot work.
    public convenience init(
        cooldown: Duration = .seconds(30),
        failureThreshold: Fraction = Fraction(10, 20),
        successThreshold: Fraction? = nil,
        slowCallDuration: Duration? = nil,
        slowCallThreshold: Fraction? = nil,
        maxCooldown: Duration? = nil,
        cooldownMultiplier: Double? = nil,
        cooldownJitter: Double = 0,
        mode: BreakerPolicy.Mode = .enforce,
        handle: @escaping @Sendable (any Error) -> Bool = { _ in true },
        onStateChange: StateChangeHandler? = nil,
        onShadowRejection: ShadowRejectionHandler? = nil,
        name: String? = nil,
        clock: any MonotonicClock = SystemClock(),
        generator: some RandomNumberGenerator = SystemRandomNumberGenerator()
    ) throws(BreakerPolicyError) {
        let policy = try BreakerPolicy(
            failureThreshold: failureThreshold,
            successThreshold: successThreshold,
            cooldown: cooldown,
            slowCallDuration: slowCallDuration,
            slowCallThreshold: slowCallThreshold,
            cooldownMaximum: maxCooldown,
            cooldownMultiplier: cooldownMultiplier,
            cooldownJitter: cooldownJitter,
            mode: mode
        )
        self.init(
            policy: policy,
            handle: handle,
            onStateChange: onStateChange,
            onShadowRejection: onShadowRejection,
            name: name,
            clock: clock,
            generator: generator
        )
    }

    /// Creates a breaker with a full `BreakerPolicy` (time windows, minimum calls, permits, slow calls, growing
    /// cooldowns, jitter, shadow mode). `minFailingClients` has no effect in-process: every outcome comes from
    /// this one client.
    ///
    /// Calls are counted and timed through swift-metrics (`highway_breaker_client_calls_total` with `source`
    /// `local`, and `highway_breaker_client_call_duration_seconds`; the dimension `resource` is `name`, or `-`
    /// for an unnamed breaker) when a metrics backend is bootstrapped before the breaker is created.
    ///
    /// - Parameters:
    ///   - policy: the policy.
    ///   - handle: which errors count as failures (default: all). Others are rethrown and count as successes.
    ///   - onStateChange: called after every state change.
    ///   - onShadowRejection: in shadow mode, called for each call enforce mode would have rejected.
    ///   - name: a name for errors and logs.
    ///   - clock: the time source for cooldowns and call durations (tests pass a `ManualClock`).
    ///   - generator: the source of the cooldown jitter's randomness (tests pass a seeded one); the breaker
    ///     draws one 64-bit seed from it when it is made.
    public convenience init(
        policy: BreakerPolicy,
        handle: @escaping @Sendable (any Error) -> Bool = { _ in true },
        onStateChange: StateChangeHandler? = nil,
        onShadowRejection: ShadowRejectionHandler? = nil,
        name: String? = nil,
        clock: any MonotonicClock = SystemClock(),
        generator: some RandomNumberGenerator = SystemRandomNumberGenerator()
    ) {
        self.init(
            policy: policy,
            handle: handle,
            onStateChange: onStateChange,
            onShadowRejection: onShadowRejection,
            name: name,
            clock: clock,
            generator: generator,
            metrics: CallMetrics.make(resource: name ?? "-", source: .local)
        )
    }

    /// Creates a breaker that counts its calls in `metrics` (a `SharedCircuitBreaker`'s fallback counts its
    /// calls as the fallback's).
    init(
        policy: BreakerPolicy,
        handle: @escaping @Sendable (any Error) -> Bool,
        onStateChange: StateChangeHandler?,
        onShadowRejection: ShadowRejectionHandler?,
        name: String?,
        clock: any MonotonicClock,
        generator: some RandomNumberGenerator,
        metrics: CallMetrics?
    ) {
        self.metrics = metrics
        self.name = name
        self.handle = handle
        self.onStateChange = onStateChange
        self.onShadowRejection = onShadowRejection
        self.clock = clock
        self.slowCallDuration = policy.slowCall?.duration
        var generator = generator
        let machine = BreakerStateMachine(policy: policy, now: clock.now, randomSeed: generator.next())
        self.storage = Lock(
            State(machine: machine, history: OutcomeHistory(capacity: policy.failureThreshold.denominator))
        )
    }

    /// The policy in force.
    public var policy: BreakerPolicy { storage.withLock { $0.machine.policy } }

    /// The current state. An open breaker whose cooldown has passed still reads `open` until the next call.
    public var state: BreakerState { storage.withLock { $0.machine.state } }

    /// The most recent counted outcomes (`.success`/`.failure`), oldest first; at most
    /// `failureThreshold.denominator` of them.
    public var history: [Outcome] { storage.withLock { $0.history.outcomes } }

    /// How many times the breaker has changed state.
    public var generation: UInt64 { storage.withLock { $0.machine.generation } }

    /// The cooldown the next (or current) open period lasts, before jitter: `cooldown`, grown after each failed
    /// half-open when the policy has a `maxCooldown`, back to `cooldown` once closed.
    public var currentCooldown: Duration { storage.withLock { $0.machine.currentCooldown } }

    /// In shadow mode: how many calls ran that enforce mode would have rejected (0 in enforce mode).
    public var shadowRejectionCount: Int { shadowRejections.load(ordering: .relaxed) }

    /// A copy of the whole state machine, for inspection.
    public var snapshot: BreakerStateMachine { storage.withLock { $0.machine } }

    public func execute<T>(isolation: isolated (any Actor)?, _ body: () async throws -> T) async throws -> T {
        let permit = try acquire()
        let start = slowCallDuration == nil && metrics == nil ? nil : clock.now
        let value: T
        do {
            value = try await body()
        } catch {
            finish(outcome(of: error), permit: permit, since: start)
            throw error
        }
        finish(.success, permit: permit, since: start)
        return value
    }

    public func executeBlocking<T>(_ body: () throws -> T) throws -> T {
        let permit = try acquire()
        let start = slowCallDuration == nil && metrics == nil ? nil : clock.now
        let value: T
        do {
            value = try body()
        } catch {
            finish(outcome(of: error), permit: permit, since: start)
            throw error
        }
        finish(.success, permit: permit, since: start)
        return value
    }

    /// Asks for permission to make one call, for callers that cannot wrap the call in `run`. Report its outcome
    /// with `complete(_:permit:duration:)`, passing the permit returned here. The call counts as `allowed` or
    /// `rejected` in `highway_breaker_client_calls_total` (when a metrics backend is bootstrapped).
    ///
    /// In shadow mode this never throws; a call enforce mode would have rejected calls `onShadowRejection` and
    /// counts in `shadowRejectionCount`.
    ///
    /// - Throws: `CircuitOpenError` when the circuit rejects the call.
    public func acquire() throws(CircuitOpenError) -> Permit? {
        let (decision, current) = storage.withLock { s in
            let decision = s.machine.acquire(now: clock.now)
            return (decision, s.machine.state)
        }
        notify(decision.transitions)
        guard decision.allowed else {
            metrics?.rejected.increment()
            throw CircuitOpenError(
                resource: name,
                state: current,
                retryAfter: decision.retryAfter ?? .zero,
                source: .local
            )
        }
        metrics?.allowed.increment()
        if !decision.wouldAllow {
            shadowRejections.add(1, ordering: .relaxed)
            onShadowRejection?(self, current)
        }
        return decision.permit
    }

    /// Reports the outcome of a call made after `acquire()`. Returns whether it counted.
    ///
    /// - Parameters:
    ///   - outcome: how the call went.
    ///   - permit: the permit `acquire()` returned.
    ///   - duration: how long the call took, for the slow-call rule (nil: not slow).
    @discardableResult
    public func complete(_ outcome: Outcome, permit: Permit?, duration: Duration? = nil) -> ReportResult {
        let slow = duration.map { d in slowCallDuration.map { d >= $0 } ?? false } ?? false
        return report(outcome, permit: permit, slow: slow, now: clock.now)
    }

    /// Reports the outcome of a call that `run` timed from `start` (nil: not timed), and records its duration.
    private func finish(_ outcome: Outcome, permit: Permit?, since start: MonotonicInstant?) {
        let now = clock.now
        if let metrics, let start { metrics.recordDuration(from: start, to: now) }
        let slow = start.map { s in slowCallDuration.map { now - s >= $0 } ?? false } ?? false
        report(outcome, permit: permit, slow: slow, now: now)
    }

    @discardableResult
    private func report(_ outcome: Outcome, permit: Permit?, slow: Bool, now: MonotonicInstant) -> ReportResult {
        let result = storage.withLock { s in
            let result = s.machine.report(outcome, permit: permit, slow: slow, now: now)
            if result.counted { s.history.append(outcome) }
            return result
        }
        notify(result.transitions)
        return result
    }

    /// Forces the breaker open or closed, for `ttl` (nil: until `release()`).
    public func force(_ target: BreakerForce.Target, ttl: Duration? = nil, reason: String? = nil) {
        let transition = storage.withLock {
            $0.machine.force(target, ttl: ttl, reason: reason, by: nil, now: clock.now)
        }
        notify([transition])
    }

    /// Ends a force: back to closed with an empty window.
    public func release() {
        let transition = storage.withLock { $0.machine.release(now: clock.now) }
        notify(transition.map { [$0] } ?? [])
    }

    /// Returns the breaker to closed with an empty window.
    public func reset() {
        let transition = storage.withLock { $0.machine.reset(now: clock.now) }
        notify([transition])
    }

    private func outcome(of error: any Error) -> Outcome {
        if error is CancellationError { return .ignored }
        return handle(error) ? .failure : .success
    }

    private func notify(_ transitions: [BreakerTransition]) {
        guard let onStateChange else { return }
        for t in transitions { onStateChange(self, t.from, t.to) }
    }
}
