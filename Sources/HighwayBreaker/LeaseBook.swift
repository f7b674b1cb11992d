import BreakerCore

/// The bookkeeping of leased mode (issue #14) for every leased resource of one client: what the server last
/// said (state, generation), until when the client may allow calls on its own (the lease), the outcomes
/// counted locally since the last `lease` line, and when the next `lease` line is due.
///
/// A pure value, as BreakerCore's state machine is: every operation takes the current instant (from an
/// injected clock) and returns what the caller must do; the caller sends the lines, applies the replies and
/// pushed events, and holds the book behind its lock.
///
/// The rules:
/// - A call is allowed locally only while the state is `closed` or `forced_closed` and a lease granted for it
///   is live. A lease runs from the instant its request was sent (not when the reply came back), so it never
///   outlives the server's push window for this client, which starts when the server reads the request.
/// - `half_open`, a resource the server has not answered for yet, and a closed circuit without a live lease
///   (it lapsed, or a push withdrew it) ask the server per call (`acquire`), as strict mode does.
/// - `open` and `forced_open` reject until the server's retry-after. A pushed trip rejects at once; the push
///   carries no retry-after, so it rejects for one flush interval, by when the next `lease` reply brings the
///   server's (and if none comes, the server is asked per call, and the caller's fallback decides if it cannot
///   be).
/// - A `lease` line is due every `flushInterval`, and sooner after a failure is counted: at once, but at most
///   once per `failureFlushSpacing` (5 ms), so a trip is not held back a whole interval.
/// - Shadow mode (issue #16): a lease granted with `would_allow:false` (an `open` or `forced_open` breaker in
///   shadow mode) allows calls locally as a closed one does, saying that enforce mode would have rejected them
///   (`allowInShadow`); a pushed transition marked `shadow` into `open` or `forced_open` keeps the lease.
struct LeaseBook: Sendable {
    /// What to do with one call.
    enum Decision: Sendable, Hashable {
        /// Run the call without a round trip, and `count` its outcome.
        case allowLocally
        /// Run the call without a round trip and `count` its outcome, although enforce mode would have rejected
        /// it: the breaker is `state` (`open` or `forced_open`) in shadow mode.
        case allowInShadow(state: BreakerState)
        /// Ask the server (`acquire`, and report with the permit), as strict mode does.
        case askServer(AskReason)
        /// Reject the call: the circuit is `state` (`open` or `forced_open`); asking again is worthwhile after
        /// `retryAfter`.
        case reject(state: BreakerState, retryAfter: Duration)
    }

    /// Why a call must ask the server.
    enum AskReason: Sendable, Hashable {
        /// The server has not answered for this resource yet (or forgot it: deleted, a bad entry).
        case unknown
        /// The circuit is half-open: probe permits must stay exact fleet-wide, so each call asks.
        case halfOpen
        /// No live lease: it ran out without a renewal, a push withdrew it, or an open circuit's retry-after
        /// has passed (the server's `acquire` decides whether to probe).
        case lapsed
    }

    /// The outcomes counted locally for one resource since the last `lease` line, for the next one.
    struct Counts: Sendable, Hashable {
        /// The resource's name.
        var resource: String
        /// Successful calls (saturating at `UInt64.max`).
        var successes: UInt64
        /// Failed calls (saturating at `UInt64.max`).
        var failures: UInt64
        /// How many of the successes and failures were slow (saturating at `UInt64.max`).
        var slow: UInt64 = 0
    }

    /// Where a kept resource's entry lives: a breaker keeps it (`track` returns it) to decide and count its calls
    /// without hashing the resource's name on every call. Valid until the resource is untracked.
    struct Slot: Sendable, Hashable {
        /// The position of the resource's entry.
        let index: Int
    }

    /// What the book holds for one resource.
    private struct Entry: Sendable {
        /// The resource's name.
        let resource: String
        /// The state the server last reported (nil: not heard yet).
        var state: BreakerState?
        var generation: UInt64 = 0
        /// While closed or forced closed: the lease's end (calls are allowed locally before it).
        var leaseEnd: MonotonicInstant?
        /// While open or forced open: when the rejection ends.
        var rejectUntil: MonotonicInstant?
        /// True when the server said the breaker is in shadow mode while `open` or `forced_open` (a lease with
        /// `would_allow:false`, or a pushed transition marked `shadow`): `leaseEnd` allows calls then.
        var shadow = false
        var successes: UInt64 = 0
        var failures: UInt64 = 0
        var slow: UInt64 = 0

        init(resource: String) { self.resource = resource }

        /// Counts one outcome (saturating), and whether it was slow; `ignored` counts nothing.
        mutating func count(_ outcome: Outcome, slow isSlow: Bool) {
            switch outcome {
            case .success: if successes < .max { successes += 1 }
            case .failure: if failures < .max { failures += 1 }
            case .ignored: return
            }
            if isSlow, slow < .max { slow += 1 }
        }

        /// The same resource with nothing heard from the server, and its counts kept or dropped.
        func forgotten(keepingCounts: Bool) -> Entry {
            var fresh = Entry(resource: resource)
            if keepingCounts {
                fresh.successes = successes
                fresh.failures = failures
                fresh.slow = slow
            }
            return fresh
        }
    }

    /// The default interval between two `lease` lines (50 ms).
    static let defaultFlushInterval: Duration = .milliseconds(50)
    /// The shortest spacing between two `lease` lines when a failure asks for one early (5 ms).
    static let failureFlushSpacing: Duration = .milliseconds(5)

    /// The interval between two `lease` lines while no failure is counted.
    let flushInterval: Duration
    /// The entries by slot; nil marks a free slot (reused by the next `track`).
    private var entries: [Entry?] = []
    /// The slot of every kept resource.
    private var slots: [String: Int] = [:]
    /// The free slots.
    private var freeSlots: [Int] = []
    /// When the last `lease` line was taken (nil: never, so the first is due at once).
    private var lastFlush: MonotonicInstant?
    /// True when a failure was counted since the last `lease` line.
    private var failureSinceFlush = false

    /// An empty book; `flushInterval` is the time between two `lease` lines (default 50 ms; at least 1 ms).
    init(flushInterval: Duration = LeaseBook.defaultFlushInterval) {
        self.flushInterval = max(flushInterval, .milliseconds(1))
    }

    // MARK: Resources

    /// Starts keeping `resource` (its first decisions ask the server; the next `lease` line carries it), and
    /// returns its slot. Tracking a resource twice changes nothing and returns the same slot.
    @discardableResult
    mutating func track(_ resource: String) -> Slot {
        if let index = slots[resource] { return Slot(index: index) }
        let index: Int
        if let free = freeSlots.popLast() {
            index = free
            entries[index] = Entry(resource: resource)
        } else {
            index = entries.count
            entries.append(Entry(resource: resource))
        }
        slots[resource] = index
        return Slot(index: index)
    }

    /// Stops keeping `resource`; its uncounted outcomes are dropped, and its slot may be reused.
    mutating func untrack(_ resource: String) {
        guard let index = slots.removeValue(forKey: resource) else { return }
        entries[index] = nil
        freeSlots.append(index)
    }

    /// The resources kept, in no particular order.
    var resources: [String] { Array(slots.keys) }

    /// The state the server last reported for `resource` (or pushed), nil if none yet.
    func state(of resource: String) -> BreakerState? { slots[resource].flatMap { entries[$0]?.state } }

    /// The generation the server last reported for `resource` (0 if none yet).
    func generation(of resource: String) -> UInt64 { slots[resource].flatMap { entries[$0]?.generation } ?? 0 }

    // MARK: Calls

    /// What to do with a call on `resource` at `now`. An untracked resource asks the server.
    func decide(_ resource: String, now: MonotonicInstant) -> Decision {
        guard let index = slots[resource] else { return .askServer(.unknown) }
        return decide(Slot(index: index), now: now)
    }

    /// What to do with a call on the resource in `slot` at `now` (as `decide(_:now:)`, without hashing its name).
    func decide(_ slot: Slot, now: MonotonicInstant) -> Decision {
        guard entries.indices.contains(slot.index), let entry = entries[slot.index], let state = entry.state else {
            return .askServer(.unknown)
        }
        switch state {
        case .closed, .forcedClosed:
            guard let end = entry.leaseEnd, now < end else { return .askServer(.lapsed) }
            return .allowLocally
        case .open, .forcedOpen:
            if entry.shadow {
                guard let end = entry.leaseEnd, now < end else { return .askServer(.lapsed) }
                return .allowInShadow(state: state)
            }
            guard let until = entry.rejectUntil, now < until else { return .askServer(.lapsed) }
            return .reject(state: state, retryAfter: until - now)
        case .halfOpen:
            return .askServer(.halfOpen)
        }
    }

    /// Counts the outcome of a call that was allowed locally, for the next `lease` line; `slow`: the call took
    /// at least the policy's slow-call duration. A failure makes the next line due early (`nextFlush`).
    /// `ignored` and untracked resources count nothing.
    mutating func count(_ outcome: Outcome, slow: Bool = false, for resource: String) {
        guard let index = slots[resource] else { return }
        count(outcome, slow: slow, at: Slot(index: index))
    }

    /// Counts the outcome of a call on the resource in `slot` (as `count(_:slow:for:)`, without hashing its
    /// name).
    mutating func count(_ outcome: Outcome, slow: Bool = false, at slot: Slot) {
        guard entries.indices.contains(slot.index), entries[slot.index] != nil else { return }
        entries[slot.index]?.count(outcome, slow: slow)
        if outcome == .failure { failureSinceFlush = true }
    }

    // MARK: Flushes

    /// When the next `lease` line is due: `flushInterval` after the last, or `failureFlushSpacing` after it
    /// when a failure was counted since; never earlier than `now` (a due line is due now). Nil when no resource
    /// is kept (nothing to send).
    func nextFlush(now: MonotonicInstant) -> MonotonicInstant? {
        guard !slots.isEmpty else { return nil }
        guard let lastFlush else { return now }
        let due = lastFlush + (failureSinceFlush ? Self.failureFlushSpacing : flushInterval)
        return max(due, now)
    }

    /// Takes the counts of every kept resource for a `lease` line sent at `now` (zeros included: each entry
    /// also renews the resource's lease), and starts counting afresh. Each outcome is taken exactly once.
    /// Sorted by resource name.
    mutating func takeCounts(now: MonotonicInstant) -> [Counts] {
        lastFlush = now
        failureSinceFlush = false
        var taken: [Counts] = []
        taken.reserveCapacity(slots.count)
        for index in entries.indices {
            guard let entry = entries[index] else { continue }
            taken.append(
                Counts(
                    resource: entry.resource,
                    successes: entry.successes,
                    failures: entry.failures,
                    slow: entry.slow
                )
            )
            entries[index]?.successes = 0
            entries[index]?.failures = 0
            entries[index]?.slow = 0
        }
        return taken.sorted { $0.resource < $1.resource }
    }

    // MARK: What the server says

    /// Applies one entry of a `lease` reply to a request sent at `requestedAt`.
    ///
    /// - Parameters:
    ///   - state: the state the reply gives.
    ///   - generation: the generation it gives.
    ///   - lease: `lease_ms`: how long calls may be allowed locally (only while `closed`/`forced_closed`; 0 or
    ///     less grants nothing).
    ///   - retryAfter: `retry_after_ms` (while `open`/`forced_open`; nil reads as zero: ask again at once).
    ///   - wouldAllow: false when the breaker is in shadow mode and enforce mode would have rejected calls
    ///     (`open`/`forced_open`): then `lease` allows calls as for `closed`.
    ///   - requestedAt: when the request carrying this entry was sent; the lease and the retry-after run from
    ///     then.
    mutating func applyLease(
        _ resource: String,
        state: BreakerState,
        generation: UInt64,
        lease: Duration,
        retryAfter: Duration?,
        wouldAllow: Bool = true,
        requestedAt: MonotonicInstant
    ) {
        guard let index = slots[resource], var entry = entries[index] else { return }
        entry.state = state
        entry.generation = generation
        entry.leaseEnd = nil
        entry.rejectUntil = nil
        entry.shadow = false
        switch state {
        case .closed, .forcedClosed:
            if lease > .zero { entry.leaseEnd = requestedAt + lease }
        case .open, .forcedOpen:
            if wouldAllow {
                entry.rejectUntil = requestedAt + max(retryAfter ?? .zero, .zero)
            } else {
                entry.shadow = true
                if lease > .zero { entry.leaseEnd = requestedAt + lease }
            }
        case .halfOpen:
            break
        }
        entries[index] = entry
    }

    /// Forgets what the server said about `resource` (its entry in a `lease` reply was an error, or the
    /// breaker was deleted): calls ask the server again, which reports the problem as strict mode does. The
    /// counts are kept for the next line.
    mutating func forgetState(of resource: String) {
        guard let index = slots[resource], let entry = entries[index] else { return }
        entries[index] = entry.forgotten(keepingCounts: true)
    }

    /// Forgets what the server said about every resource (the connection was lost: its push window ended).
    /// Counts are dropped too, as strict mode's reports are while the server cannot be reached.
    mutating func forgetAll() {
        for index in entries.indices { entries[index] = entries[index]?.forgotten(keepingCounts: false) }
        lastFlush = nil
        failureSinceFlush = false
    }

    /// Applies a pushed transition of `resource` at once, received at `now`: a trip rejects, and a close
    /// allows calls locally again only while a lease is live (one granted since the circuit reopened never
    /// is: the next `lease` reply grants it). A trip marked `shadow` keeps the lease (shadow mode never
    /// rejects). A transition no newer than what the book knows is ignored.
    mutating func applyEvent(_ resource: String, _ transition: TransitionRecord, now: MonotonicInstant) {
        guard let index = slots[resource], var entry = entries[index] else { return }
        if entry.state != nil && transition.generation <= entry.generation { return }
        entry.state = transition.to
        entry.generation = transition.generation
        entry.shadow = false
        switch transition.to {
        case .closed, .forcedClosed:
            entry.rejectUntil = nil
        case .open, .forcedOpen:
            if transition.shadow {
                entry.shadow = true
                entry.rejectUntil = nil
            } else {
                entry.leaseEnd = nil
                entry.rejectUntil = now + flushInterval
            }
        case .halfOpen:
            entry.leaseEnd = nil
            entry.rejectUntil = nil
        }
        entries[index] = entry
    }

    /// The resources whose lease ran out without a renewal by `now` (closed or forced closed, or open in shadow
    /// mode, with a lease that ended at or before `now`), sorted by name: their calls ask the server, and the
    /// caller's fallback decides if it cannot be asked.
    func lapsed(now: MonotonicInstant) -> [String] {
        entries.compactMap { entry in
            guard let entry, entry.state == .closed || entry.state == .forcedClosed || entry.shadow,
                let end = entry.leaseEnd, end <= now
            else { return nil }
            return entry.resource
        }
        .sorted()
    }
}
