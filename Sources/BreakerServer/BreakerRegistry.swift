import BreakerClock
import BreakerCore
import BreakerProtocol
import BreakerStore
import Synchronization

/// Every breaker the server holds, sharded by name so that unrelated resources never contend for one lock.
///
/// Each operation takes the request's fields, locks one shard, runs BreakerCore's state machine with the
/// current instant, records the transitions in the breaker's audit log, and returns a value: what the reply
/// says and, when something durable changed, a `BreakerChange` numbered in its shard's order. Nothing is
/// published and nothing is called out to while a lock is held; the caller hands the change on.
public final class BreakerRegistry: Sendable {
    /// Added to a restored breaker's permit sequence, so that permits granted after its last save but before
    /// a crash never collide with new ones.
    static let permitSequenceGapOnRestore: UInt64 = 1 << 20

    struct ShardState: Sendable {
        var entries: [String: BreakerEntry] = [:]
        /// The sequence number of the shard's next change.
        var nextSequence: UInt64 = 0
    }

    final class Shard: Sendable {
        let state = Mutex(ShardState())
    }

    let shards: [Shard]
    let count = Atomic<Int>(0)
    /// Transitions since start, by cause (in `TransitionCause.allCases` order).
    private let transitionCounts = CounterBlock(count: TransitionCause.allCases.count)
    /// The most breakers held at once.
    public let maximumBreakers: Int
    /// The policy of a breaker created by a request that carries none.
    public let defaultPolicy: BreakerPolicy
    let clock: any MonotonicClock
    let wallClock: WallClock

    init(
        maximumBreakers: Int,
        defaultPolicy: BreakerPolicy,
        clock: any MonotonicClock,
        wallClock: @escaping WallClock,
        shardCount: Int = 64
    ) {
        self.shards = (0..<max(1, shardCount)).map { _ in Shard() }
        self.maximumBreakers = maximumBreakers
        self.defaultPolicy = defaultPolicy
        self.clock = clock
        self.wallClock = wallClock
    }

    /// How many breakers there are.
    public var breakerCount: Int { count.load(ordering: .relaxed) }

    /// How many transitions have happened since start.
    public var transitionsSinceStart: Int { transitionsByCause.values.reduce(0, +) }

    /// How many transitions have happened since start, by cause (every cause, zero included).
    public var transitionsByCause: [TransitionCause: Int] {
        var counts: [TransitionCause: Int] = [:]
        for (i, cause) in TransitionCause.allCases.enumerated() { counts[cause] = transitionCounts.load(at: i) }
        return counts
    }

    /// How many shards there are (each orders its own changes).
    var shardCount: Int { shards.count }

    func shardIndex(for resource: String) -> Int {
        Int(UInt(bitPattern: resource.hashValue) % UInt(shards.count))
    }

    // MARK: Calls

    /// Asks to make a call; creates the breaker (with `policy`, else the default policy) when it is new.
    func acquire(_ resource: String, policy: BreakerPolicy?) throws(ProtocolError) -> RegistryResult<AcquireReply> {
        try withEntry(resource, creatingWith: policy, by: nil) { entry, _, now in
            let decision = entry.machine.acquire(now: now)
            // A granted permit moves the permit sequence, which is saved.
            return Step(decision, transitions: decision.transitions, changed: decision.permit != nil)
        } finish: { entry, _, decision in
            AcquireReply(
                allowed: decision.allowed,
                state: entry.machine.state,
                generation: entry.machine.generation,
                permit: decision.permit,
                retryAfter: decision.retryAfter,
                wouldAllow: decision.wouldAllow
            )
        }
    }

    /// Reports outcomes; creates the breaker (with `policy`, else the default policy) when it is new. A single
    /// outcome is slow when `durationMs` (milliseconds) is at least the policy's slow-call duration; `client`
    /// names who reported (`ClientIdentity`; 0: unknown).
    func report(
        _ resource: String,
        kind: Request.ReportKind,
        policy: BreakerPolicy?,
        durationMs: Int64? = nil,
        client: UInt64 = 0
    ) throws(ProtocolError)
        -> RegistryResult<ReportReply>
    {
        try withEntry(resource, creatingWith: policy, by: nil) { entry, _, now in
            let result: BreakerCore.ReportResult
            switch kind {
            case .outcome(let outcome, let permit):
                let slow = durationMs.map { Self.isSlow($0, under: entry.machine.policy) } ?? false
                result = entry.machine.report(outcome, permit: permit, slow: slow, client: client, now: now)
            case .batch(let s, let f, let slow):
                result = entry.machine.record(successes: s, failures: f, slow: slow, client: client, now: now)
            }
            return Step(result, transitions: result.transitions, changed: result.counted)
        } finish: { entry, _, result in
            ReportReply(
                state: entry.machine.state,
                generation: entry.machine.generation,
                counted: result.counted,
                reason: result.ignoredBecause
            )
        }
    }

    /// Applies one `lease` entry: counts `successes` then `failures` into the window, the last `slow` of them
    /// slow (only in `closed` and `forced_closed`, as a count report does; `client` names who reported them),
    /// creating the breaker (with `policy`, else the default policy) when it is new, and returns the lease. A
    /// lease never moves `open` to `half_open` (only `acquire` does); a force whose TTL ended ends.
    /// `leaseDuration` is what a `closed` or `forced_closed` breaker grants, and, in shadow mode, an `open` or
    /// `forced_open` one (with `wouldAllow` false).
    func lease(
        _ resource: String,
        successes: Int,
        failures: Int,
        slow: Int = 0,
        client: UInt64 = 0,
        policy: BreakerPolicy?,
        leaseDuration: Duration
    ) throws(ProtocolError) -> RegistryResult<LeaseReply.Lease> {
        try withEntry(resource, creatingWith: policy, by: nil) { entry, _, now in
            if successes > 0 || failures > 0 {
                let result = entry.machine.record(
                    successes: successes,
                    failures: failures,
                    slow: slow,
                    client: client,
                    now: now
                )
                return Step((), transitions: result.transitions, changed: result.counted)
            }
            let expired = entry.machine.expire(now: now)
            return Step((), transitions: expired.map { [$0] } ?? [], changed: false)
        } finish: { entry, now, _ in
            let m = entry.machine
            let rejecting = m.state == .open || m.state == .forcedOpen
            if rejecting && m.policy.mode == .shadow {
                return LeaseReply.Lease(
                    resource: resource,
                    state: m.state,
                    generation: m.generation,
                    lease: leaseDuration,
                    retryAfter: nil,
                    wouldAllow: false
                )
            }
            let retryAfter: Duration?
            switch m.state {
            case .open: retryAfter = m.retryAfter(now: now)
            case .forcedOpen: retryAfter = m.retryAfter(now: now) ?? m.policy.cooldown
            case .closed, .forcedClosed, .halfOpen: retryAfter = nil
            }
            let granted = m.state == .closed || m.state == .forcedClosed
            return LeaseReply.Lease(
                resource: resource,
                state: m.state,
                generation: m.generation,
                lease: granted ? leaseDuration : .zero,
                retryAfter: retryAfter
            )
        }
    }

    /// True when a call that took `durationMs` milliseconds is slow under `policy` (never without a slow-call
    /// rule).
    static func isSlow(_ durationMs: Int64, under policy: BreakerPolicy) -> Bool {
        guard let rule = policy.slowCall else { return false }
        return Duration.milliseconds(durationMs) >= rule.duration
    }

    /// A random seed for a breaker's cooldown jitter, so that breakers that open together do not probe together.
    static func randomSeed() -> UInt64 {
        var generator = SystemRandomNumberGenerator()
        return generator.next()
    }

    // MARK: Internals

    func info(_ resource: String, _ entry: BreakerEntry, now: MonotonicInstant) -> BreakerInfo {
        let m = entry.machine
        let (calls, failures) = m.window.totals(now: now)
        let forced = m.force.map {
            BreakerInfo.Forced(
                state: $0.target,
                reason: $0.reason,
                by: $0.by,
                remainingMs: $0.until.map { max(($0 - now).millisecondsRoundedUp, 0) }
            )
        }
        let halfOpen =
            m.state == .halfOpen
            ? BreakerInfo.HalfOpen(
                permitsOut: m.halfOpenCounts.permitsOut,
                successes: m.halfOpenCounts.successes,
                failures: m.halfOpenCounts.failures
            )
            : nil
        return BreakerInfo(
            resource: resource,
            state: m.state,
            generation: m.generation,
            policy: m.policy,
            windowCalls: calls,
            windowFailures: failures,
            retryAfterMs: m.retryAfter(now: now)?.millisecondsRoundedUp,
            forced: forced,
            halfOpen: halfOpen,
            changedAtMs: entry.changedAtMs,
            windowSlow: m.window.slowCount(now: now),
            windowFailingClients: m.window.failingClients(now: now),
            cooldownCurrentMs: m.currentCooldown.millisecondsRoundedUp
        )
    }

    /// Records `transitions` in the audit log of the entry at `i` and returns the change to publish: its new
    /// row and records, numbered in the shard's order. Under the shard's lock; calls nothing outside.
    func record(
        _ resource: String,
        _ transitions: [BreakerTransition],
        in s: inout ShardState,
        at i: Dictionary<String, BreakerEntry>.Index,
        shard: Int,
        now: MonotonicInstant,
        by: String?,
        reason: String?
    ) -> BreakerChange {
        let wall = wallClock()
        var records: [TransitionRecord] = []
        records.reserveCapacity(transitions.count)
        for t in transitions {
            let operatorCause = [.forced, .released, .reset, .configured].contains(t.cause)
            let record = TransitionRecord(
                from: t.from,
                to: t.to,
                cause: t.cause,
                generation: t.generation,
                atMs: wall,
                by: operatorCause ? by : nil,
                reason: t.cause == .forced ? reason : nil,
                shadow: t.shadow
            )
            s.entries.values[i].record(record)
            records.append(record)
            transitionCounts.add(at: TransitionCause.allCases.firstIndex(of: t.cause) ?? 0)
        }
        s.entries.values[i].dirty = true
        let row = persisted(resource, s.entries.values[i], now: now, wall: wall)
        defer { s.nextSequence &+= 1 }
        return BreakerChange(
            resource: resource,
            transitions: records,
            deleted: false,
            durable: .save(row, transitions: records),
            shard: shard,
            sequence: s.nextSequence
        )
    }

    /// Counts one more breaker, or says why not.
    func reserveSlot() -> ProtocolError? {
        var current = count.load(ordering: .relaxed)
        while true {
            guard current < maximumBreakers else {
                return ProtocolError(
                    .tooManyBreakers,
                    "the server holds its maximum of \(maximumBreakers) breakers; delete unused ones or raise --max-breakers"
                )
            }
            let (exchanged, original) = count.compareExchange(
                expected: current,
                desired: current + 1,
                ordering: .relaxed
            )
            if exchanged { return nil }
            current = original
        }
    }

    /// What an operation's body did to an entry: its own result, the transitions it made, whether the entry
    /// changed (for the next snapshot), and whether the change must be saved even without a transition.
    struct Step<Value> {
        var value: Value
        var transitions: [BreakerTransition]
        var changed: Bool
        var durable = false

        init(_ value: Value, transitions: [BreakerTransition], changed: Bool, durable: Bool = false) {
            self.value = value
            self.transitions = transitions
            self.changed = changed || !transitions.isEmpty
            self.durable = durable || !transitions.isEmpty
        }
    }

    /// Runs `body` on the breaker's entry (creating it when new) under its shard lock, with one hash lookup,
    /// records what it did, then `finish` makes the reply's value from the updated entry. `finish` only reads
    /// the entry; it gets it `inout` so that the dictionary lends it in place (its getter would copy the whole
    /// entry, retaining and releasing every reference in it, on every request).
    func withEntry<Value, Answer>(
        _ resource: String,
        creatingWith policy: BreakerPolicy?,
        by: String?,
        _ body: (inout BreakerEntry, _ isNew: Bool, MonotonicInstant) -> Step<Value>,
        finish: (inout BreakerEntry, MonotonicInstant, Value) -> Answer
    ) throws(ProtocolError) -> RegistryResult<Answer> {
        let index = shardIndex(for: resource)
        let outcome = shards[index].state.withLock { s -> Result<RegistryResult<Answer>, ProtocolError> in
            let now = clock.now
            var isNew = false
            let i: Dictionary<String, BreakerEntry>.Index
            if let found = s.entries.index(forKey: resource) {
                i = found
            } else {
                if let refusal = create(resource, policy: policy, in: &s, now: now) { return .failure(refusal) }
                i = s.entries.index(forKey: resource)!
                isNew = true
            }
            let step = body(&s.entries.values[i], isNew, now)
            if step.changed { s.entries.values[i].dirty = true }
            let change =
                step.durable
                ? record(resource, step.transitions, in: &s, at: i, shard: index, now: now, by: by, reason: nil) : nil
            return .success(RegistryResult(value: finish(&s.entries.values[i], now, step.value), change: change))
        }
        return try outcome.get()
    }

    /// Adds a new breaker to the shard (with `policy`, else the default policy, and a random jitter seed), or
    /// says why not. Out of line: creation is rare, and `withEntry`, inlined into every operation, stays small.
    @inline(never)
    func create(
        _ resource: String,
        policy: BreakerPolicy?,
        in s: inout ShardState,
        now: MonotonicInstant
    ) -> ProtocolError? {
        if let refusal = reserveSlot() { return refusal }
        let machine = BreakerStateMachine(policy: policy ?? defaultPolicy, now: now, randomSeed: Self.randomSeed())
        s.entries[resource] = BreakerEntry(machine: machine, changedAtMs: wallClock(), dirty: true)
        return nil
    }

    func withExisting(
        _ resource: String,
        by: String?,
        reason: String?,
        _ body: (inout BreakerEntry, MonotonicInstant) -> [BreakerTransition]
    ) throws(ProtocolError) -> RegistryResult<BreakerInfo> {
        let index = shardIndex(for: resource)
        let result = shards[index].state.withLock { s -> RegistryResult<BreakerInfo>? in
            guard let i = s.entries.index(forKey: resource) else { return nil }
            let now = clock.now
            let transitions = body(&s.entries.values[i], now)
            let change: BreakerChange? =
                transitions.isEmpty
                ? nil : record(resource, transitions, in: &s, at: i, shard: index, now: now, by: by, reason: reason)
            return RegistryResult(value: info(resource, s.entries.values[i], now: now), change: change)
        }
        guard let result else { throw ProtocolError(.notFound, "no breaker named \"\(resource)\"") }
        return result
    }
}
