public import BreakerCore
import BreakerProtocol
public import Logging
import Synchronization

/// A circuit breaker whose state lives in `breakerd`, shared by every process that names the same resource.
/// It is a `ResiliencePolicy` like `CircuitBreakerPolicy`, so it composes in `Failsafe`.
///
/// ```swift
/// let client = BreakerClient(host: "breakerd.internal", port: 7433, token: token, clientName: "checkout")
/// try await client.connect()
/// let payments = try SharedCircuitBreaker(
///     resource: "payments-db", policy: BreakerPolicy(failureThreshold: Fraction(5, 20)), client: client)
/// let row = try await payments.run { try await db.query(…) }
/// ```
/// `run` asks the server (one round trip), runs the call, and reports its outcome with the probe permit and
/// duration without waiting for an answer (`noreply`). A rejected call throws `CircuitOpenError`.
///
/// When the server is unreachable or does not answer within the client's timeout, `fallback` decides:
/// `.local` (default) lets an in-process breaker with the same policy decide until the server is back,
/// `.allow` lets every call through, `.reject` rejects every call (with `CircuitOpenError`, state `open`, source
/// `.fallback`). A resource last seen forced open stays rejected (state `forced_open`, source `.fallback`)
/// whatever the fallback. Each outage is logged once (not per call) and counted.
///
/// `onStateChange` hears every transition the server makes after `subscribed()` returns.
///
/// `consistency: .leased` (issue #14) decides calls locally while the circuit is closed and the client holds a
/// lease on it: `run` then takes no round trip and counts the outcome, and the client sends what it counted
/// in one `lease` line for all its leased resources every 50 ms (at once, at most every 5 ms, after a
/// failure). A transition the server pushes applies at once; half-open calls, and calls without a live
/// lease, ask the server as in strict mode; when the lease lapses and the server cannot be asked, `fallback`
/// decides. The price: after the failure that trips the circuit, a leased client may let calls through until
/// that failure has reached the server and the trip has been pushed back, which strict mode never does.
///
/// Calls are counted (`allowed`/`rejected`, decided by the `server` or the `fallback`) and timed through
/// swift-metrics when a backend was bootstrapped before the breaker was created (`CallMetrics` names the metrics).
///
/// Issue #16: strict mode sends each call's duration with its report (the server decides what is slow by the
/// breaker's `slow_call_ms`); leased mode times the calls it decides locally and counts as slow those that took
/// at least `policy`'s slow-call duration (none without a `policy` that has a slow-call rule). A breaker in
/// shadow mode never rejects: each call the server says enforce mode would have rejected (`would_allow:false`,
/// on an `acquire` or a lease) runs, calls `onShadowRejection` and counts in `shadowRejectionCount`.
public final class SharedCircuitBreaker: ResiliencePolicy {
    /// What to do while the server cannot be asked.
    public enum Fallback: String, Sendable, Hashable {
        /// An in-process breaker with the same policy decides (it has seen this process's recent outcomes).
        case local
        /// Every call goes ahead.
        case allow
        /// Every call is rejected.
        case reject
    }

    /// How calls are decided while the server can be asked.
    public enum Consistency: String, Sendable, Hashable {
        /// Every call asks the server (one round trip): the shared circuit decides each call.
        case strict
        /// While the circuit is closed and the client holds a lease, calls are decided locally and their outcomes
        /// sent in aggregate; the server pushes every change of state.
        case leased
    }

    /// Called for each transition of the resource that the server pushes (caused by any process), on the
    /// client's I/O thread: keep it short.
    public typealias StateChangeHandler = @Sendable (SharedCircuitBreaker, BreakerState, BreakerState) -> Void

    /// Called, in shadow mode, for each call that enforce mode would have rejected (the call runs), with the
    /// breaker and the state the server gave (`open`, `half_open` with every probe permit taken, or
    /// `forced_open`). It runs on the calling thread before the call: keep it short.
    public typealias ShadowRejectionHandler = @Sendable (SharedCircuitBreaker, BreakerState) -> Void

    struct State: Sendable {
        var lastState: BreakerState?
        /// The client connection on which an acquire that carried the policy was answered (after that, the
        /// breaker exists on the server and the policy need not be sent again on this connection).
        var policyAnsweredOnConnection = -1
    }

    /// The resource's name on the server.
    public let resource: String
    /// The policy the breaker is created with if it does not exist yet (nil: the server's default).
    public let policy: BreakerPolicy?
    /// The connection to the server.
    public let client: BreakerClient
    /// What to do while the server cannot be asked.
    public let fallback: Fallback
    let handle: @Sendable (any Error) -> Bool
    let onStateChange: StateChangeHandler?
    let onShadowRejection: ShadowRejectionHandler?
    /// `policy`'s slow-call duration: leased mode counts a call decided locally as slow when it took this long.
    let slowCallDuration: Duration?
    let shadowRejections = Atomic<Int>(0)
    /// Times the calls (and runs the local fallback's cooldowns).
    let clock: any MonotonicClock
    /// The calls the shared circuit decides (nil without a metrics backend).
    let metrics: CallMetrics?
    /// The calls the fallback decides (`.local` counts through `local`; nil without a metrics backend).
    let fallbackMetrics: CallMetrics?
    let local: CircuitBreakerPolicy
    /// How calls are decided while the server can be asked.
    public let consistency: Consistency
    /// The client's leased resources, in leased mode (nil in strict mode).
    let leases: LeaseKeeper?
    /// The index of this resource's slot in `leases` (`LeaseBook.Slot`), set at the end of `init` once the
    /// breaker is subscribed to its events (-1 in strict mode). An atomic because `init` shares `self` with the
    /// client before it registers; `run` only reads it after `init` returned.
    let leaseSlot = Atomic<Int>(-1)
    /// A pthread lock rather than `Mutex`: application threads contend on it (`Lock` says why that matters).
    let state = Lock(State())
    /// True while the server cannot be asked (the fallback decides). An atomic rather than part of `state`:
    /// leased calls decided locally read it on every call, and a relaxed load costs no lock.
    let inOutage = Atomic<Bool>(false)
    let outages = Atomic<Int>(0)
    let fallbackCalls = Atomic<Int>(0)
    let subscription = Mutex<UInt64?>(nil)
    let logger: Logger

    /// Creates a shared breaker for `resource`.
    ///
    /// - Parameters:
    ///   - resource: 1–200 bytes of `A–Z a–z 0–9 . _ : / @ -`.
    ///   - policy: used if this creates the breaker on the server, and by the local fallback.
    ///   - client: the connection to share (one per process is enough).
    ///   - handle: which errors count as failures (default: all); others count as successes.
    ///   - fallback: what to do while the server cannot be asked (default `.local`).
    ///   - consistency: `.strict` (default: every call asks the server) or `.leased` (closed circuits decide
    ///     locally under a lease).
    ///   - onStateChange: called for each transition the server pushes for this resource.
    ///   - onShadowRejection: in shadow mode, called for each call that enforce mode would have rejected.
    ///   - logger: where outages and fallbacks are logged (default label `highway-breaker.shared`).
    ///   - clock: the time source for call durations and the local fallback's cooldowns (tests pass a
    ///     `ManualClock`).
    /// - Throws: `ConfigurationError` for an invalid resource name.
    public init(
        resource: String,
        policy: BreakerPolicy? = nil,
        client: BreakerClient,
        handle: @escaping @Sendable (any Error) -> Bool = { _ in true },
        fallback: Fallback = .local,
        consistency: Consistency = .strict,
        onStateChange: StateChangeHandler? = nil,
        onShadowRejection: ShadowRejectionHandler? = nil,
        logger: Logger = Logger(label: "highway-breaker.shared"),
        clock: any MonotonicClock = SystemClock()
    ) throws {
        if let problem = ResourceName.problem(with: resource) {
            throw ConfigurationError.invalidValue("resource", problem)
        }
        self.resource = resource
        self.policy = policy
        self.client = client
        self.handle = handle
        self.fallback = fallback
        self.consistency = consistency
        self.leases = consistency == .leased ? client.core.leases : nil
        self.onStateChange = onStateChange
        self.onShadowRejection = onShadowRejection
        self.slowCallDuration = policy?.slowCall?.duration
        self.logger = logger
        self.clock = clock
        let metrics = CallMetrics.make(resource: resource, source: .server)
        self.metrics = metrics
        self.fallbackMetrics = metrics?.decided(by: .fallback)
        self.local = CircuitBreakerPolicy(
            policy: policy ?? BreakerPolicy.default,
            handle: handle,
            onStateChange: nil,
            onShadowRejection: nil,
            name: resource,
            clock: clock,
            generator: SystemRandomNumberGenerator(),
            metrics: fallbackMetrics
        )
        let id = client.subscribe(prefix: resource) { [weak self] event in self?.receive(event) }
        subscription.withLock { $0 = id }
        if let slot = leases?.register(resource, policy: policy) { leaseSlot.store(slot.index, ordering: .relaxed) }
    }

    deinit {
        if let id = subscription.withLock({ $0 }) { client.unsubscribe(id) }
        leases?.unregister(resource)
    }

    /// The state the server last reported (nil before the first answer).
    public var lastKnownState: BreakerState? { leases?.state(of: resource) ?? state.withLock { $0.lastState } }

    /// True while calls are decided by the fallback because the server cannot be asked.
    public var isInFallback: Bool { inOutage.load(ordering: .relaxed) }

    /// How many outages (periods without the server) this breaker went through.
    public var outageCount: Int { outages.load(ordering: .relaxed) }

    /// How many calls the fallback decided.
    public var fallbackCallCount: Int { fallbackCalls.load(ordering: .relaxed) }

    /// In shadow mode: how many calls ran that enforce mode would have rejected, as the server said (0 in
    /// enforce mode). Calls decided by the local fallback count in its own `CircuitBreakerPolicy`, not here.
    public var shadowRejectionCount: Int { shadowRejections.load(ordering: .relaxed) }

    /// Returns once the server has acknowledged the watch that delivers this resource's transitions to
    /// `onStateChange`: every transition made after this returns, by any process, reaches the handler. (A
    /// transition caused through the same `client` after `init` reaches it anyway: the client's requests are
    /// answered in order.)
    ///
    /// - Parameter timeout: how long to wait, connecting included (default 5 s).
    /// - Throws: `BreakerClientError` `timeout` (for example while the server is unreachable), `closed`,
    ///   `cancelled`, or `unauthorized`.
    public func subscribed(timeout: Duration = .seconds(5)) async throws(BreakerClientError) {
        try await client.waitUntilWatching(prefix: resource, timeout: timeout)
    }

    public func execute<T>(isolation: isolated (any Actor)?, _ body: () async throws -> T) async throws -> T {
        if let leases, try admitsLocally(leases) {
            let start = slowCallDuration == nil && metrics == nil ? nil : clock.now
            let value: T
            do {
                value = try await body()
            } catch {
                countLocally(outcome(of: error), leases, since: start)
                throw error
            }
            countLocally(.success, leases, since: start)
            return value
        }
        guard let decision = try await ask() else {
            switch fallback {
            case .local: return try await local.execute(isolation: isolation, body)
            case .allow:
                let start = allowedByFallback()
                defer { fallbackMetrics?.recordDuration(from: start, to: clock.now) }
                return try await body()
            case .reject: throw rejectedByFallback(state: .open)
            }
        }
        let permit = try admit(decision)
        let start = clock.now
        let value: T
        do {
            value = try await body()
        } catch {
            complete(outcome(of: error), permit: permit, since: start)
            throw error
        }
        complete(.success, permit: permit, since: start)
        return value
    }

    public func executeBlocking<T>(_ body: () throws -> T) throws -> T {
        if let leases, try admitsLocally(leases) {
            let start = slowCallDuration == nil && metrics == nil ? nil : clock.now
            let value: T
            do {
                value = try body()
            } catch {
                countLocally(outcome(of: error), leases, since: start)
                throw error
            }
            countLocally(.success, leases, since: start)
            return value
        }
        let connection = client.connectionCount
        let policySent = policyToSend(on: connection)
        let asked: Result<AcquireReply, BreakerClientError> = Result { () throws(BreakerClientError) in
            try client.acquireBlocking(resource, policy: policySent)
        }
        if policySent != nil, case .success = asked { policyAnswered(on: connection) }
        guard let decision = try answer(asked) else {
            switch fallback {
            case .local: return try local.executeBlocking(body)
            case .allow:
                let start = allowedByFallback()
                defer { fallbackMetrics?.recordDuration(from: start, to: clock.now) }
                return try body()
            case .reject: throw rejectedByFallback(state: .open)
            }
        }
        let permit = try admit(decision)
        let start = clock.now
        let value: T
        do {
            value = try body()
        } catch {
            complete(outcome(of: error), permit: permit, since: start)
            throw error
        }
        complete(.success, permit: permit, since: start)
        return value
    }
}
