import BreakerClock
import BreakerCore
import BreakerProtocol
import Synchronization

/// Every breaker the server holds, sharded by name so that unrelated resources never contend for one lock.
///
/// Each operation locks one shard, runs BreakerCore's state machine with the current instant, records the
/// transitions in the breaker's audit log, and hands them to `onTransition` while still holding the shard
/// lock (so that watchers see one resource's transitions in order).
public final class BreakerRegistry: Sendable {
    /// The most transitions kept per breaker for `history`.
    public static let historyLimit = 1_000

    struct Entry: Sendable {
        var machine: BreakerStateMachine
        var history: [TransitionRecord] = []
        var historyStart = 0
        var changedAtMs: Int64

        mutating func record(_ r: TransitionRecord) {
            changedAtMs = r.atMs
            if history.count < BreakerRegistry.historyLimit {
                history.append(r)
            } else {
                history[historyStart] = r
                historyStart = (historyStart + 1) % history.count
            }
        }

        /// Newest first.
        func recent(_ limit: Int) -> [TransitionRecord] {
            var out: [TransitionRecord] = []
            out.reserveCapacity(min(limit, history.count))
            var i = (historyStart + history.count - 1) % max(history.count, 1)
            while out.count < min(limit, history.count) {
                out.append(history[i])
                i = (i + history.count - 1) % history.count
            }
            return out
        }
    }

    final class Shard: Sendable {
        let entries = Mutex<[String: Entry]>([:])
    }

    /// Called with each transition, under the breaker's shard lock.
    public typealias TransitionHandler = @Sendable (_ resource: String, _ record: TransitionRecord) -> Void

    private let shards: [Shard]
    private let count = Atomic<Int>(0)
    private let transitionCount = Atomic<Int>(0)
    /// The most breakers held at once.
    public let maximumBreakers: Int
    /// The policy of a breaker created by a request that carries none.
    public let defaultPolicy: BreakerPolicy
    private let clock: any MonotonicClock
    private let wallClock: WallClock
    private let onTransition: TransitionHandler

    /// Creates an empty registry.
    public init(
        maximumBreakers: Int, defaultPolicy: BreakerPolicy, clock: any MonotonicClock,
        wallClock: @escaping WallClock, shardCount: Int = 64, onTransition: @escaping TransitionHandler
    ) {
        self.shards = (0..<max(1, shardCount)).map { _ in Shard() }
        self.maximumBreakers = maximumBreakers
        self.defaultPolicy = defaultPolicy
        self.clock = clock
        self.wallClock = wallClock
        self.onTransition = onTransition
    }

    /// How many breakers there are.
    public var breakerCount: Int { count.load(ordering: .relaxed) }

    /// How many transitions have happened since start.
    public var transitionsSinceStart: Int { transitionCount.load(ordering: .relaxed) }

    private func shard(for resource: String) -> Shard {
        shards[Int(UInt(bitPattern: resource.hashValue) % UInt(shards.count))]
    }

    // MARK: Calls

    /// The result of `acquire`, with the breaker's state after it.
    public struct AcquireResult: Sendable {
        public let decision: AcquireDecision
        public let state: BreakerState
        public let generation: UInt64
    }

    /// The result of `report`, with the breaker's state after it.
    public struct ReportResult: Sendable {
        public let result: BreakerCore.ReportResult
        public let state: BreakerState
        public let generation: UInt64
    }

    /// Asks to make a call; creates the breaker (with `policy`, else the default policy) when it is new.
    public func acquire(_ resource: String, policy: BreakerPolicy?) throws(ProtocolError) -> AcquireResult {
        try withEntry(resource, creatingWith: policy, by: nil) { entry, _, now, transitions in
            let decision = entry.machine.acquire(now: now)
            transitions = decision.transitions
            return AcquireResult(decision: decision, state: entry.machine.state, generation: entry.machine.generation)
        } finish: { $2 }
    }

    /// Reports outcomes; creates the breaker (with `policy`, else the default policy) when it is new.
    public func report(_ resource: String, kind: Request.ReportKind, policy: BreakerPolicy?) throws(ProtocolError)
        -> ReportResult
    {
        try withEntry(resource, creatingWith: policy, by: nil) { entry, _, now, transitions in
            let result: BreakerCore.ReportResult
            switch kind {
            case .outcome(let outcome, let permit): result = entry.machine.report(outcome, permit: permit, now: now)
            case .batch(let s, let f): result = entry.machine.record(successes: s, failures: f, now: now)
            }
            transitions = result.transitions
            return ReportResult(result: result, state: entry.machine.state, generation: entry.machine.generation)
        } finish: { $2 }
    }

    // MARK: Operators

    /// Creates or reconfigures a breaker.
    public func configure(_ resource: String, policy: BreakerPolicy, by: String?) throws(ProtocolError) -> BreakerInfo {
        try withEntry(resource, creatingWith: policy, by: by) { entry, isNew, now, transitions in
            if !isNew, let t = entry.machine.configure(policy, now: now) { transitions = [t] }
        } finish: { entry, now, _ in
            self.info(resource, entry, now: now)
        }
    }

    /// Forces a breaker open or closed.
    public func force(
        _ resource: String, target: BreakerForce.Target, reason: String?, ttl: Duration?, by: String?
    ) throws(ProtocolError) -> BreakerInfo {
        try withExisting(resource, by: by, reason: reason) { entry, now, transitions in
            transitions = [entry.machine.force(target, ttl: ttl, reason: reason, by: by, now: now)]
        }
    }

    /// Ends a force.
    public func release(_ resource: String, by: String?) throws(ProtocolError) -> BreakerInfo {
        try withExisting(resource, by: by, reason: nil) { entry, now, transitions in
            transitions = [entry.machine.release(now: now)].compactMap { $0 }
        }
    }

    /// Returns a breaker to closed with an empty window.
    public func reset(_ resource: String, by: String?) throws(ProtocolError) -> BreakerInfo {
        try withExisting(resource, by: by, reason: nil) { entry, now, transitions in
            transitions = [entry.machine.reset(now: now)]
        }
    }

    /// Removes a breaker. Returns false when there was none.
    public func delete(_ resource: String) -> Bool {
        let removed = shard(for: resource).entries.withLock { $0.removeValue(forKey: resource) != nil }
        if removed { count.subtract(1, ordering: .relaxed) }
        return removed
    }

    /// Applies the passage of time to one breaker (a force whose TTL ended). Returns the instant of the next
    /// expiry it has pending, if any.
    @discardableResult
    public func expire(_ resource: String) -> MonotonicInstant? {
        shard(for: resource).entries.withLock { entries -> MonotonicInstant? in
            guard let index = entries.index(forKey: resource) else { return nil }
            if let t = entries.values[index].machine.expire(now: clock.now) {
                publish(resource, [t], into: &entries.values[index], by: nil, reason: nil)
            }
            return entries.values[index].machine.nextExpiry
        }
    }

    // MARK: Reading

    /// The breaker object of `resource`, or nil.
    public func status(_ resource: String) -> BreakerInfo? {
        shard(for: resource).entries.withLock { entries in
            entries[resource].map { info(resource, $0, now: clock.now) }
        }
    }

    /// Every breaker whose name starts with `prefix`, sorted by name.
    public func list(prefix: String) -> [BreakerInfo] {
        var out: [BreakerInfo] = []
        for s in shards {
            s.entries.withLock { entries in
                let now = clock.now
                for (name, entry) in entries where name.hasPrefix(prefix) { out.append(info(name, entry, now: now)) }
            }
        }
        return out.sorted { $0.resource < $1.resource }
    }

    /// The newest `limit` transitions of `resource`, newest first; nil when there is no such breaker.
    public func history(_ resource: String, limit: Int) -> [TransitionRecord]? {
        shard(for: resource).entries.withLock { $0[resource]?.recent(limit) }
    }

    /// How many breakers are in each state.
    public func countsByState() -> [BreakerState: Int] {
        var counts: [BreakerState: Int] = [:]
        for s in shards {
            s.entries.withLock { entries in
                for entry in entries.values { counts[entry.machine.state, default: 0] += 1 }
            }
        }
        return counts
    }

    // MARK: Internals

    private func info(_ resource: String, _ entry: Entry, now: MonotonicInstant) -> BreakerInfo {
        let m = entry.machine
        let (calls, failures) = m.window.totals(now: now)
        let forced = m.force.map {
            BreakerInfo.Forced(
                state: $0.target, reason: $0.reason, by: $0.by,
                remainingMs: $0.until.map { max(($0 - now).millisecondsRoundedUp, 0) })
        }
        let halfOpen = m.state == .halfOpen
            ? BreakerInfo.HalfOpen(
                permitsOut: m.halfOpenCounts.permitsOut, successes: m.halfOpenCounts.successes,
                failures: m.halfOpenCounts.failures)
            : nil
        return BreakerInfo(
            resource: resource, state: m.state, generation: m.generation, policy: m.policy, windowCalls: calls,
            windowFailures: failures, retryAfterMs: m.retryAfter(now: now)?.millisecondsRoundedUp, forced: forced,
            halfOpen: halfOpen, changedAtMs: entry.changedAtMs)
    }

    private func publish(
        _ resource: String, _ transitions: [BreakerTransition], into entry: inout Entry, by: String?, reason: String?
    ) {
        guard !transitions.isEmpty else { return }
        let wall = wallClock()
        for t in transitions {
            let operatorCause = [.forced, .released, .reset, .configured].contains(t.cause)
            let record = TransitionRecord(
                from: t.from, to: t.to, cause: t.cause, generation: t.generation, atMs: wall,
                by: operatorCause ? by : nil, reason: t.cause == .forced ? reason : nil)
            entry.record(record)
            transitionCount.add(1, ordering: .relaxed)
            onTransition(resource, record)
        }
    }

    /// Counts one more breaker, or says why not.
    private func reserveSlot() -> ProtocolError? {
        var current = count.load(ordering: .relaxed)
        while true {
            guard current < maximumBreakers else {
                return ProtocolError(
                    .tooManyBreakers,
                    "the server holds its maximum of \(maximumBreakers) breakers; delete unused ones or raise --max-breakers")
            }
            let (exchanged, original) = count.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return nil }
            current = original
        }
    }

    /// Runs `body` on the breaker's entry (creating it when new) under its shard lock, with one hash lookup;
    /// records and publishes the transitions it made; then `finish` makes the result from the updated entry.
    private func withEntry<T, R>(
        _ resource: String, creatingWith policy: BreakerPolicy?, by: String?,
        _ body: (inout Entry, _ isNew: Bool, MonotonicInstant, inout [BreakerTransition]) -> T,
        finish: (Entry, MonotonicInstant, T) -> R
    ) throws(ProtocolError) -> R {
        let result = shard(for: resource).entries.withLock { entries -> Result<R, ProtocolError> in
            let now = clock.now
            var isNew = false
            let index: Dictionary<String, Entry>.Index
            if let found = entries.index(forKey: resource) {
                index = found
            } else {
                if let refusal = reserveSlot() { return .failure(refusal) }
                let machine = BreakerStateMachine(policy: policy ?? defaultPolicy, now: now)
                entries[resource] = Entry(machine: machine, changedAtMs: wallClock())
                index = entries.index(forKey: resource)!
                isNew = true
            }
            var transitions: [BreakerTransition] = []
            let value = body(&entries.values[index], isNew, now, &transitions)
            if !transitions.isEmpty { publish(resource, transitions, into: &entries.values[index], by: by, reason: nil) }
            return .success(finish(entries.values[index], now, value))
        }
        return try result.get()
    }

    private func withExisting(
        _ resource: String, by: String?, reason: String?,
        _ body: (inout Entry, MonotonicInstant, inout [BreakerTransition]) -> Void
    ) throws(ProtocolError) -> BreakerInfo {
        let result = shard(for: resource).entries.withLock { entries -> BreakerInfo? in
            guard let index = entries.index(forKey: resource) else { return nil }
            let now = clock.now
            var transitions: [BreakerTransition] = []
            body(&entries.values[index], now, &transitions)
            publish(resource, transitions, into: &entries.values[index], by: by, reason: reason)
            return info(resource, entries.values[index], now: now)
        }
        guard let result else { throw ProtocolError(.notFound, "no breaker named \"\(resource)\"") }
        return result
    }
}
