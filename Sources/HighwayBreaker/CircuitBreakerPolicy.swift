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
    public init(
        policy: BreakerPolicy,
        handle: @escaping @Sendable (any Error) -> Bool = { _ in true },
        onStateChange: StateChangeHandler? = nil,
        name: String? = nil,
        clock: any MonotonicClock = SystemClock()
    ) {
        self.name = name
        self.handle = handle
        self.onStateChange = onStateChange
        self.clock = clock
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
        let value: T
        do {
            value = try await body()
        } catch {
            complete(outcome(of: error), permit: permit)
            throw error
        }
        complete(.success, permit: permit)
        return value
    }

    public func executeBlocking<T>(_ body: () throws -> T) throws -> T {
        let permit = try acquire()
        let value: T
        do {
            value = try body()
        } catch {
            complete(outcome(of: error), permit: permit)
            throw error
        }
        complete(.success, permit: permit)
        return value
    }

    /// Asks for permission to make one call, for callers that cannot wrap the call in `run`. Report its outcome
    /// with `complete(_:permit:)`, passing the permit returned here.
    ///
    /// - Throws: `CircuitOpenError` when the circuit rejects the call.
    public func acquire() throws(CircuitOpenError) -> Permit? {
        let (decision, current) = storage.withLock { s in
            let decision = s.machine.acquire(now: clock.now)
            return (decision, s.machine.state)
        }
        notify(decision.transitions)
        guard decision.allowed else {
            throw CircuitOpenError(
                resource: name,
                state: current,
                retryAfter: decision.retryAfter ?? .zero,
                source: .local
            )
        }
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

    private func outcome(of error: any Error) -> Outcome {
        if error is CancellationError { return .ignored }
        return handle(error) ? .failure : .success
    }

    private func notify(_ transitions: [BreakerTransition]) {
        guard let onStateChange else { return }
        for t in transitions { onStateChange(self, t.from, t.to) }
    }
}
