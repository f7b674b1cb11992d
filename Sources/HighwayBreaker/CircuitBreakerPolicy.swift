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
public final class CircuitBreakerPolicy: ResiliencePolicy {
    /// Called after each state change with the policy, the old state and the new state. It runs on the thread
    /// that caused the change, outside the breaker's lock (it may read `state` and `history`).
    public typealias StateChangeHandler = @Sendable (CircuitBreakerPolicy, BreakerState, BreakerState) -> Void

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
    private let clock: any MonotonicClock
    /// Where calls are counted and timed (nil without a metrics backend: `CallMetrics`).
    private let metrics: CallMetrics?

    /// Creates a breaker with the seeds' parameters.
    ///
    /// - Parameters:
    ///   - cooldown: how long to stay open before probing (default 30 s).
    ///   - failureThreshold: trip when at least `k` of the last `n` calls failed (default 10/20).
    ///   - successThreshold: in half-open, close when at least `k` of `n` probes succeeded (default: decide by
    ///     `failureThreshold`, as the seeds do).
    ///   - handle: which errors count as failures (default: all). Others are rethrown and count as successes.
    ///   - onStateChange: called after every state change.
    ///   - name: a name for errors and logs.
    ///   - clock: the time source (tests pass a `ManualClock`).
    /// - Throws: `BreakerPolicyError` naming the field when a value cannot work.
    public convenience init(
        cooldown: Duration = .seconds(30),
        failureThreshold: Fraction = Fraction(10, 20),
        successThreshold: Fraction? = nil,
        handle: @escaping @Sendable (any Error) -> Bool = { _ in true },
        onStateChange: StateChangeHandler? = nil,
        name: String? = nil,
        clock: any MonotonicClock = SystemClock()
    ) throws {
        let policy = try BreakerPolicy(
            failureThreshold: failureThreshold,
            successThreshold: successThreshold,
            cooldown: cooldown
        )
        self.init(policy: policy, handle: handle, onStateChange: onStateChange, name: name, clock: clock)
    }

    /// Creates a breaker with a full `BreakerPolicy` (time windows, minimum calls, permits).
    ///
    /// Calls are counted and timed through swift-metrics (`highway_breaker_client_calls_total` with `source`
    /// `local`, and `highway_breaker_client_call_duration_seconds`; the dimension `resource` is `name`, or `-`
    /// for an unnamed breaker) when a metrics backend is bootstrapped before the breaker is created.
    public convenience init(
        policy: BreakerPolicy,
        handle: @escaping @Sendable (any Error) -> Bool = { _ in true },
        onStateChange: StateChangeHandler? = nil,
        name: String? = nil,
        clock: any MonotonicClock = SystemClock()
    ) {
        self.init(
            policy: policy,
            handle: handle,
            onStateChange: onStateChange,
            name: name,
            clock: clock,
            metrics: CallMetrics.make(resource: name ?? "-", source: .local)
        )
    }

    /// Creates a breaker that counts its calls in `metrics` (a `SharedCircuitBreaker`'s fallback counts its
    /// calls as the fallback's).
    init(
        policy: BreakerPolicy,
        handle: @escaping @Sendable (any Error) -> Bool,
        onStateChange: StateChangeHandler?,
        name: String?,
        clock: any MonotonicClock,
        metrics: CallMetrics?
    ) {
        self.name = name
        self.handle = handle
        self.onStateChange = onStateChange
        self.clock = clock
        self.metrics = metrics
        let machine = BreakerStateMachine(policy: policy, now: clock.now)
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

    /// A copy of the whole state machine, for inspection.
    public var snapshot: BreakerStateMachine { storage.withLock { $0.machine } }

    public func execute<T>(isolation: isolated (any Actor)?, _ body: () async throws -> T) async throws -> T {
        let permit = try acquire()
        let start = metrics == nil ? nil : clock.now
        let value: T
        do {
            value = try await body()
        } catch {
            finish(outcome(of: error), permit: permit, started: start)
            throw error
        }
        finish(.success, permit: permit, started: start)
        return value
    }

    public func executeBlocking<T>(_ body: () throws -> T) throws -> T {
        let permit = try acquire()
        let start = metrics == nil ? nil : clock.now
        let value: T
        do {
            value = try body()
        } catch {
            finish(outcome(of: error), permit: permit, started: start)
            throw error
        }
        finish(.success, permit: permit, started: start)
        return value
    }

    /// Asks for permission to make one call, for callers that cannot wrap the call in `run`. Report its outcome
    /// with `complete(_:permit:)`, passing the permit returned here. The call counts as `allowed` or `rejected` in
    /// `highway_breaker_client_calls_total` (when a metrics backend is bootstrapped).
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
        return decision.permit
    }

    /// Reports the outcome of a call made after `acquire()`. Returns whether it counted.
    @discardableResult
    public func complete(_ outcome: Outcome, permit: Permit?) -> ReportResult {
        let result = storage.withLock { s in
            let result = s.machine.report(outcome, permit: permit, now: clock.now)
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

    /// Reports the outcome of a call `run` made, and records its duration when it was timed.
    @inline(__always)
    private func finish(_ outcome: Outcome, permit: Permit?, started: MonotonicInstant?) {
        if let metrics, let started { metrics.recordDuration(from: started, to: clock.now) }
        complete(outcome, permit: permit)
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
