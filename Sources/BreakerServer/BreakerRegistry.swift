import BreakerClock
import BreakerCore
import BreakerProtocol
import BreakerStore
import Synchronization

/// Every breaker the server holds, sharded by name so that unrelated resources never contend for one lock.
///
/// Each operation locks one shard, runs BreakerCore's state machine with the current instant, records the
/// transitions in the breaker's audit log, and, still under the shard lock (so one resource's changes keep
/// their order), hands them to watchers (`onTransition`) and to the durable writer (`onDurableChange`).
public final class BreakerRegistry: Sendable {
    /// Added to a restored breaker's permit sequence, so that permits granted after its last save but before
    /// a crash never collide with new ones.
    static let permitSequenceGapOnRestore: UInt64 = 1 << 20

    struct Entry: Sendable {
        var machine: BreakerStateMachine
        var history: [TransitionRecord] = []
        var historyStart = 0
        var changedAtMs: Int64
        /// Changed since the last snapshot took it.
        var dirty = true

        mutating func record(_ r: TransitionRecord) {
            changedAtMs = r.atMs
            if history.count < TransitionRecord.retentionLimit {
                history.append(r)
            } else {
                history[historyStart] = r
                historyStart = (historyStart + 1) % history.count
            }
        }

        /// Newest first.
        func recent(_ limit: Int) -> [TransitionRecord] {
            let n = min(limit, history.count)
            return (0..<n).map { history[(historyStart + history.count - 1 - $0) % history.count] }
        }
    }

    final class Shard: Sendable {
        let entries = Mutex<[String: Entry]>([:])
    }

    /// Called with each transition, under the breaker's shard lock.
    typealias TransitionHandler = @Sendable (_ resource: String, _ record: TransitionRecord) -> Void
    /// Called, under the breaker's shard lock, with each change that must be durable before the reply to the
    /// request that made it (`waiter`) is sent.
    typealias DurableChangeHandler = @Sendable (_ change: StoreChange, _ waiter: ConnectionKey?) -> Void

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
    private let onDurableChange: DurableChangeHandler?

    init(
        maximumBreakers: Int, defaultPolicy: BreakerPolicy, clock: any MonotonicClock, wallClock: @escaping WallClock,
        shardCount: Int = 64, onTransition: @escaping TransitionHandler, onDurableChange: DurableChangeHandler?
    ) {
        self.shards = (0..<max(1, shardCount)).map { _ in Shard() }
        self.maximumBreakers = maximumBreakers
        self.defaultPolicy = defaultPolicy
        self.clock = clock
        self.wallClock = wallClock
        self.onTransition = onTransition
        self.onDurableChange = onDurableChange
    }

    /// How many breakers there are.
    public var breakerCount: Int { count.load(ordering: .relaxed) }

    /// How many transitions have happened since start.
    public var transitionsSinceStart: Int { transitionCount.load(ordering: .relaxed) }

    private func shard(for resource: String) -> Shard {
        shards[Int(UInt(bitPattern: resource.hashValue) % UInt(shards.count))]
    }

    /// What an operation changed that the caller must know about.
    struct Effects {
        /// A durable change was handed to the writer with the caller as its waiter: hold the reply until it
        /// is committed.
        var awaitsCommit = false
    }

    // MARK: Calls

    /// The result of `acquire`, with the breaker's state after it.
    struct AcquireResult: Sendable {
        let decision: AcquireDecision
        let state: BreakerState
        let generation: UInt64
    }

    /// The result of `report`, with the breaker's state after it.
    struct ReportResult: Sendable {
        let result: BreakerCore.ReportResult
        let state: BreakerState
        let generation: UInt64
    }

    /// Asks to make a call; creates the breaker (with `policy`, else the default policy) when it is new.
    func acquire(_ resource: String, policy: BreakerPolicy?, waiter: ConnectionKey?, effects: inout Effects)
        throws(ProtocolError) -> AcquireResult
    {
        try withEntry(resource, creatingWith: policy, by: nil, waiter: waiter, effects: &effects) { entry, _, now, transitions in
            let decision = entry.machine.acquire(now: now)
            transitions = decision.transitions
            return AcquireResult(decision: decision, state: entry.machine.state, generation: entry.machine.generation)
        } finish: { $2 }
    }

    /// Reports outcomes; creates the breaker (with `policy`, else the default policy) when it is new.
    func report(
        _ resource: String, kind: Request.ReportKind, policy: BreakerPolicy?, waiter: ConnectionKey?,
        effects: inout Effects
    ) throws(ProtocolError) -> ReportResult {
        try withEntry(resource, creatingWith: policy, by: nil, waiter: waiter, effects: &effects) { entry, _, now, transitions in
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
    func configure(_ resource: String, policy: BreakerPolicy, by: String?, waiter: ConnectionKey?, effects: inout Effects)
        throws(ProtocolError) -> BreakerInfo
    {
        try withEntry(resource, creatingWith: policy, by: by, waiter: waiter, effects: &effects, alwaysDurable: true) {
            entry, isNew, now, transitions in
            if !isNew, let t = entry.machine.configure(policy, now: now) { transitions = [t] }
        } finish: { entry, now, _ in
            self.info(resource, entry, now: now)
        }
    }

    /// Forces a breaker open or closed.
    func force(
        _ resource: String, target: BreakerForce.Target, reason: String?, ttl: Duration?, by: String?,
        waiter: ConnectionKey?, effects: inout Effects
    ) throws(ProtocolError) -> BreakerInfo {
        try withExisting(resource, by: by, reason: reason, waiter: waiter, effects: &effects) { entry, now in
            [entry.machine.force(target, ttl: ttl, reason: reason, by: by, now: now)]
        }
    }

    /// Ends a force.
    func release(_ resource: String, by: String?, waiter: ConnectionKey?, effects: inout Effects) throws(ProtocolError)
        -> BreakerInfo
    {
        try withExisting(resource, by: by, reason: nil, waiter: waiter, effects: &effects) { entry, now in
            [entry.machine.release(now: now)].compactMap { $0 }
        }
    }

    /// Returns a breaker to closed with an empty window.
    func reset(_ resource: String, by: String?, waiter: ConnectionKey?, effects: inout Effects) throws(ProtocolError)
        -> BreakerInfo
    {
        try withExisting(resource, by: by, reason: nil, waiter: waiter, effects: &effects) { entry, now in
            [entry.machine.reset(now: now)]
        }
    }

    /// Removes a breaker. Returns false when there was none.
    func delete(_ resource: String, waiter: ConnectionKey?, effects: inout Effects) -> Bool {
        let removed = shard(for: resource).entries.withLock { entries -> Bool in
            guard entries.removeValue(forKey: resource) != nil else { return false }
            onDurableChange?(.delete(resource: resource), waiter)
            return true
        }
        if removed {
            count.subtract(1, ordering: .relaxed)
            if onDurableChange != nil && waiter != nil { effects.awaitsCommit = true }
        }
        return removed
    }

    /// Applies the passage of time to one breaker (a force whose TTL ended).
    func expire(_ resource: String) {
        shard(for: resource).entries.withLock { entries in
            guard let index = entries.index(forKey: resource) else { return }
            let now = clock.now
            if let t = entries.values[index].machine.expire(now: now) {
                entries.values[index].dirty = true
                publish(resource, [t], into: &entries.values[index], now: now, by: nil, reason: nil, waiter: nil)
            }
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

    // MARK: Persistence

    /// The breakers changed since the last call (or all of them), as rows to store, taken shard by shard (each
    /// shard locked only while it is copied). Their changed marks are cleared.
    func persistedRows(all: Bool) -> [PersistedBreaker] {
        var rows: [PersistedBreaker] = []
        for s in shards {
            s.entries.withLock { entries in
                let now = clock.now
                let wall = wallClock()
                var i = entries.values.startIndex
                while i != entries.values.endIndex {
                    if all || entries.values[i].dirty {
                        entries.values[i].dirty = false
                        rows.append(persisted(entries.keys[i], entries.values[i], now: now, wall: wall))
                    }
                    entries.values.formIndex(after: &i)
                }
            }
        }
        return rows
    }

    /// Loads stored breakers (before the server starts). Returns the forces that will end by themselves, with
    /// the instant they end, for the expiry queue.
    func restore(_ rows: [PersistedBreaker], history: [String: [TransitionRecord]]) -> [(String, MonotonicInstant)] {
        var expiring: [(String, MonotonicInstant)] = []
        let now = clock.now
        let wall = wallClock()
        func instant(_ ms: Int64?) -> MonotonicInstant? { ms.map { now + .milliseconds(max(0, $0 - wall)) } }
        for row in rows {
            let force = row.forced.map {
                BreakerForce(target: $0.target, reason: $0.reason, by: $0.by, until: instant($0.untilMs))
            }
            let window = OutcomeWindow(
                row.policy.window, decoding: row.window, now: now, elapsed: .milliseconds(max(0, wall - row.savedAtMs)))
            let machine = BreakerStateMachine(
                restoring: row.state, policy: row.policy, generation: row.generation, changedAt: now,
                openUntil: instant(row.openUntilMs) ?? now, force: force, window: window,
                nextPermitSequence: row.nextPermitSequence &+ Self.permitSequenceGapOnRestore)
            var entry = Entry(machine: machine, changedAtMs: row.changedAtMs, dirty: false)
            for r in (history[row.resource] ?? []).suffix(TransitionRecord.retentionLimit) { entry.record(r) }
            entry.changedAtMs = row.changedAtMs
            shard(for: row.resource).entries.withLock { $0[row.resource] = entry }
            if let until = force?.until { expiring.append((row.resource, until)) }
        }
        count.store(rows.count, ordering: .relaxed)
        return expiring
    }

    private func persisted(_ resource: String, _ entry: Entry, now: MonotonicInstant, wall: Int64) -> PersistedBreaker {
        let m = entry.machine
        func wallTime(_ instant: MonotonicInstant) -> Int64 { wall + (instant - now).millisecondsRoundedUp }
        return PersistedBreaker(
            resource: resource, policy: m.policy, state: m.state, generation: m.generation,
            nextPermitSequence: m.nextPermitSequence, openUntilMs: m.state == .open ? wallTime(m.openUntil) : nil,
            forced: m.force.map {
                PersistedBreaker.Forced(target: $0.target, reason: $0.reason, by: $0.by, untilMs: $0.until.map(wallTime))
            },
            changedAtMs: entry.changedAtMs, window: m.window.encoded(now: now), savedAtMs: wall)
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

    /// Records `transitions` in the audit log, tells watchers, and hands the new row to the durable writer
    /// (also with no transitions when `durable` says the change must be kept anyway). Returns true when a
    /// durable change was handed over.
    @discardableResult
    private func publish(
        _ resource: String, _ transitions: [BreakerTransition], into entry: inout Entry, now: MonotonicInstant,
        by: String?, reason: String?, waiter: ConnectionKey?, durable: Bool = false
    ) -> Bool {
        guard !transitions.isEmpty || durable else { return false }
        let wall = wallClock()
        var records: [TransitionRecord] = []
        for t in transitions {
            let operatorCause = [.forced, .released, .reset, .configured].contains(t.cause)
            let record = TransitionRecord(
                from: t.from, to: t.to, cause: t.cause, generation: t.generation, atMs: wall,
                by: operatorCause ? by : nil, reason: t.cause == .forced ? reason : nil)
            entry.record(record)
            records.append(record)
            transitionCount.add(1, ordering: .relaxed)
            onTransition(resource, record)
        }
        guard let onDurableChange else { return false }
        onDurableChange(.save(persisted(resource, entry, now: now, wall: wall), transitions: records), waiter)
        return true
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
            let (exchanged, original) = count.compareExchange(expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return nil }
            current = original
        }
    }

    /// Runs `body` on the breaker's entry (creating it when new) under its shard lock, with one hash lookup;
    /// publishes the transitions it made; then `finish` makes the result from the updated entry.
    private func withEntry<T, R>(
        _ resource: String, creatingWith policy: BreakerPolicy?, by: String?, waiter: ConnectionKey?,
        effects: inout Effects, alwaysDurable: Bool = false,
        _ body: (inout Entry, _ isNew: Bool, MonotonicInstant, inout [BreakerTransition]) -> T,
        finish: (Entry, MonotonicInstant, T) -> R
    ) throws(ProtocolError) -> R {
        let result = shard(for: resource).entries.withLock { entries -> Result<(R, Bool), ProtocolError> in
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
            entries.values[index].dirty = true
            let durable = publish(
                resource, transitions, into: &entries.values[index], now: now, by: by, reason: nil, waiter: waiter,
                durable: alwaysDurable)
            return .success((finish(entries.values[index], now, value), durable))
        }
        let (value, durable) = try result.get()
        if durable && waiter != nil { effects.awaitsCommit = true }
        return value
    }

    private func withExisting(
        _ resource: String, by: String?, reason: String?, waiter: ConnectionKey?, effects: inout Effects,
        _ body: (inout Entry, MonotonicInstant) -> [BreakerTransition]
    ) throws(ProtocolError) -> BreakerInfo {
        let result = shard(for: resource).entries.withLock { entries -> (BreakerInfo, Bool)? in
            guard let index = entries.index(forKey: resource) else { return nil }
            let now = clock.now
            let transitions = body(&entries.values[index], now)
            entries.values[index].dirty = true
            let durable = publish(
                resource, transitions, into: &entries.values[index], now: now, by: by, reason: reason, waiter: waiter)
            return (info(resource, entries.values[index], now: now), durable)
        }
        guard let (info, durable) = result else { throw ProtocolError(.notFound, "no breaker named \"\(resource)\"") }
        if durable && waiter != nil { effects.awaitsCommit = true }
        return info
    }
}
