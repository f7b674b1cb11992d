import BreakerClock
import BreakerCore
import BreakerProtocol

/// One client's leased resources (issue #14): the `LeaseBook` behind a lock that holds up under
/// oversubscription, the policies to send, and the one `lease` request in flight.
///
/// Every `SharedCircuitBreaker(…, consistency: .leased)` of a client registers its resource here; one `lease`
/// line carries them all. The client's I/O thread drives it: it sleeps until `nextFlush()`, calls
/// `flushIfDue(via:)`, and calls `connectionLost()` when the connection ends. The breakers call `decide` and
/// `count` on every call, and hand over the events they receive.
final class LeaseKeeper: Sendable {
    /// One entry of a `lease` line.
    struct Outgoing: Sendable, Hashable {
        /// The resource's name.
        var resource: String
        /// Successful calls counted locally since the last line (0 to `maximumCount`).
        var successes: Int
        /// Failed calls counted locally since the last line (0 to `maximumCount`).
        var failures: Int
        /// How many of `successes` and `failures` were slow (0 to their sum).
        var slow: Int = 0
        /// The policy, until an answer on this connection showed the breaker exists.
        var policy: BreakerPolicy?
    }

    /// The server's answer to one entry.
    enum Answer: Sendable, Hashable {
        /// The entry was served: the state after its counts, and the lease granted (zero unless `closed` or
        /// `forced_closed`, or `wouldAllow` is false); `retryAfter` while `open` or `forced_open`. `wouldAllow`
        /// is false when the breaker is in shadow mode and enforce mode would have rejected calls: the lease is
        /// granted as for `closed`.
        case lease(state: BreakerState, generation: UInt64, lease: Duration, retryAfter: Duration?, wouldAllow: Bool)
        /// The entry failed alone (a bad resource or policy): its calls ask the server, which reports the
        /// problem as in strict mode.
        case failed(BreakerClientError)
    }

    /// The most outcomes of one kind one entry carries: protocol v1's limit per count (2³¹ − 1). Never reached
    /// in practice (that many calls in one flush interval); anything above is dropped.
    static let maximumCount = Int(Int32.max)

    private struct Holder: Sendable {
        /// How many breakers of this client lease the resource.
        var breakers: Int
        var policy: BreakerPolicy?
        /// True once an answer on the current connection showed the breaker exists: the policy is not sent
        /// again.
        var policyAnswered = false
    }

    private struct State: Sendable {
        var book: LeaseBook
        var holders: [String: Holder] = [:]
        /// True while a `lease` request waits for its answer (there is at most one).
        var inFlight = false
        /// Bumped when the connection is lost: answers to requests sent before are ignored.
        var epoch = 0
    }

    private let state: Lock<State>
    private let clock: any MonotonicClock
    /// Wakes the driver (the client's I/O thread) so that it plans again: a line became due sooner.
    private let wakeDriver: @Sendable () -> Void

    /// A keeper with nothing leased yet.
    ///
    /// - Parameters:
    ///   - flushInterval: the time between two `lease` lines (default 50 ms).
    ///   - clock: the time source (tests pass a `ManualClock`).
    ///   - wakeDriver: wakes whoever calls `flushIfDue(via:)` when a line became due sooner than it planned.
    init(
        flushInterval: Duration = LeaseBook.defaultFlushInterval,
        clock: any MonotonicClock = SystemClock(),
        wakeDriver: @escaping @Sendable () -> Void
    ) {
        state = Lock(State(book: LeaseBook(flushInterval: flushInterval)))
        self.clock = clock
        self.wakeDriver = wakeDriver
    }

    // MARK: Breakers

    /// Starts leasing `resource` for one more breaker; `policy` is sent until the server has the breaker (the
    /// first registration's policy is the one sent). Returns the resource's slot, for `decide(_:)` and
    /// `count(_:at:)`: valid until the breaker unregisters.
    @discardableResult
    func register(_ resource: String, policy: BreakerPolicy?) -> LeaseBook.Slot {
        let slot = state.withLock { s in
            if s.holders[resource] != nil {
                s.holders[resource]?.breakers += 1
            } else {
                s.holders[resource] = Holder(breakers: 1, policy: policy)
            }
            return s.book.track(resource)
        }
        wakeDriver()
        return slot
    }

    /// One breaker of `resource` is gone; the last one stops the leasing.
    func unregister(_ resource: String) {
        state.withLock { s in
            guard let holder = s.holders[resource] else { return }
            if holder.breakers > 1 {
                s.holders[resource]?.breakers -= 1
            } else {
                s.holders[resource] = nil
                s.book.untrack(resource)
            }
        }
    }

    /// What to do with one call on `resource` now.
    func decide(_ resource: String) -> LeaseBook.Decision {
        let now = clock.now
        return state.withLock { $0.book.decide(resource, now: now) }
    }

    /// What to do with one call on the resource in `slot` now (the call path: no hashing of the name).
    func decide(_ slot: LeaseBook.Slot) -> LeaseBook.Decision {
        let now = clock.now
        return state.withLock { $0.book.decide(slot, now: now) }
    }

    /// Counts the outcome of a call allowed locally (`slow`: it took at least the policy's slow-call duration);
    /// after a failure, wakes the driver when the next line became due sooner.
    func count(_ outcome: Outcome, slow: Bool = false, for resource: String) {
        count(outcome) { book, outcome in book.count(outcome, slow: slow, for: resource) }
    }

    /// Counts the outcome of a call on the resource in `slot` (as `count(_:slow:for:)`, without hashing the
    /// name).
    func count(_ outcome: Outcome, slow: Bool = false, at slot: LeaseBook.Slot) {
        count(outcome) { book, outcome in book.count(outcome, slow: slow, at: slot) }
    }

    @inline(__always)
    private func count(_ outcome: Outcome, into book: (inout LeaseBook, Outcome) -> Void) {
        guard outcome == .failure else {
            state.withLock { book(&$0.book, outcome) }
            return
        }
        let now = clock.now
        let sooner = state.withLock { s -> Bool in
            let before = s.book.nextFlush(now: now)
            book(&s.book, outcome)
            guard !s.inFlight, let after = s.book.nextFlush(now: now) else { return false }
            return before.map { after < $0 } ?? true
        }
        if sooner { wakeDriver() }
    }

    /// The state the server last reported or pushed for `resource` (nil if none yet).
    func state(of resource: String) -> BreakerState? {
        state.withLock { $0.book.state(of: resource) }
    }

    /// Applies an event the client received: a transition at once, a deletion forgets the resource's state
    /// (and sends its policy again, so that the next entry recreates the breaker as the client asks).
    func apply(_ event: BreakerEvent) {
        let now = clock.now
        state.withLock { s in
            switch event {
            case .transition(let resource, let record):
                s.book.applyEvent(resource, record, now: now)
            case .deleted(let resource):
                s.book.forgetState(of: resource)
                s.holders[resource]?.policyAnswered = false
            }
        }
    }

    // MARK: The driver

    /// When the next `lease` line is due; nil while a request is in flight (its answer wakes the driver) or
    /// nothing is leased.
    func nextFlush() -> MonotonicInstant? {
        let now = clock.now
        return state.withLock { s in s.inFlight ? nil : s.book.nextFlush(now: now) }
    }

    /// Sends the `lease` line through `transport` when it is due and none is in flight. Returns whether it sent.
    @discardableResult
    func flushIfDue(via transport: some LeaseTransport) -> Bool {
        let now = clock.now
        let request = state.withLock { s -> (entries: [Outgoing], epoch: Int)? in
            guard !s.inFlight, let due = s.book.nextFlush(now: now), due <= now else { return nil }
            s.inFlight = true
            let entries = s.book.takeCounts(now: now).map { counts in
                let holder = s.holders[counts.resource]
                let successes = Int(min(counts.successes, UInt64(Self.maximumCount)))
                let failures = Int(min(counts.failures, UInt64(Self.maximumCount)))
                return Outgoing(
                    resource: counts.resource,
                    successes: successes,
                    failures: failures,
                    slow: Int(min(counts.slow, UInt64(successes + failures))),
                    policy: holder?.policyAnswered == false ? holder?.policy : nil
                )
            }
            return (entries, s.epoch)
        }
        guard let request else { return false }
        // A strong reference, held only until the request is answered or times out: a weak one would give the
        // keeper a side table for good, and make every retain and release of it on the call path take the slow
        // path (measured: about a sixth of a leased call, benchmarks/RESULTS-lease.md).
        transport.sendLease(request.entries) { result in
            self.received(result, for: request.entries, requestedAt: now, epoch: request.epoch)
        }
        return true
    }

    /// The connection ended: its push window went with it. Every lease ends, uncounted outcomes are dropped
    /// (as strict mode's reports are while the server cannot be reached), the policies are sent again, and a
    /// line is due as soon as the next connection is up.
    func connectionLost() {
        state.withLock { s in
            s.book.forgetAll()
            s.inFlight = false
            s.epoch += 1
            for resource in s.holders.keys { s.holders[resource]?.policyAnswered = false }
        }
    }

    /// Applies the answers to a request sent at `requestedAt`, then wakes the driver to plan the next line. A
    /// request that failed as a whole applies nothing: its counts are lost (as strict mode's `noreply` reports
    /// on a failing connection are), and the leases it would have renewed lapse on their own.
    private func received(
        _ result: Result<[Answer], BreakerClientError>,
        for entries: [Outgoing],
        requestedAt: MonotonicInstant,
        epoch: Int
    ) {
        state.withLock { s in
            guard s.epoch == epoch else { return }
            s.inFlight = false
            guard case .success(let answers) = result, answers.count == entries.count else { return }
            for (entry, answer) in zip(entries, answers) {
                switch answer {
                case .lease(let state, let generation, let lease, let retryAfter, let wouldAllow):
                    s.book.applyLease(
                        entry.resource,
                        state: state,
                        generation: generation,
                        lease: lease,
                        retryAfter: retryAfter,
                        wouldAllow: wouldAllow,
                        requestedAt: requestedAt
                    )
                    if entry.policy != nil { s.holders[entry.resource]?.policyAnswered = true }
                case .failed:
                    s.book.forgetState(of: entry.resource)
                }
            }
        }
        wakeDriver()
    }
}
