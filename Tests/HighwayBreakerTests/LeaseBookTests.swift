import Testing

@testable import HighwayBreaker

/// Leased mode's bookkeeping (issue #14) on a manual clock: lapse, renewal, pushes, flush timing, and counts
/// taken exactly once.
@Suite struct LeaseBookTests {
    private let second: Duration = .seconds(1)

    /// A book keeping `resources`.
    private func makeBook(_ resources: String...) -> LeaseBook {
        var book = LeaseBook()
        for resource in resources { book.track(resource) }
        return book
    }

    private func transition(_ from: BreakerState, _ to: BreakerState, generation: UInt64) -> TransitionRecord {
        TransitionRecord(from: from, to: to, cause: .failureThreshold, generation: generation, atMs: 0)
    }

    @Test func aResourceNotAnsweredYetAsksTheServer() {
        let book = makeBook("db")
        let clock = ManualClock()
        #expect(book.decide("db", now: clock.now) == .askServer(.unknown))
        #expect(book.decide("untracked", now: clock.now) == .askServer(.unknown))
        #expect(book.state(of: "db") == nil)
    }

    @Test func aLeaseAllowsLocallyUntilItsEndThenLapses() {
        var book = makeBook("db")
        let clock = ManualClock()
        let sent = clock.now
        clock.advance(by: .milliseconds(3))  // the reply's round trip
        book.applyLease("db", state: .closed, generation: 4, lease: second, retryAfter: nil, requestedAt: sent)
        #expect(book.decide("db", now: clock.now) == .allowLocally)
        #expect(book.state(of: "db") == .closed)
        #expect(book.generation(of: "db") == 4)

        // The lease runs from the request, not from the reply: 1 s after `sent`, not after the reply.
        clock.advance(by: .milliseconds(996))
        #expect(book.decide("db", now: clock.now) == .allowLocally, "1 ms before the end")
        #expect(book.lapsed(now: clock.now).isEmpty)
        clock.advance(by: .milliseconds(1))
        #expect(book.decide("db", now: clock.now) == .askServer(.lapsed), "at the end")
        #expect(book.lapsed(now: clock.now) == ["db"])
    }

    @Test func aRenewalExtendsTheLeaseFromItsOwnRequest() {
        var book = makeBook("db")
        let clock = ManualClock()
        book.applyLease("db", state: .closed, generation: 1, lease: second, retryAfter: nil, requestedAt: clock.now)
        clock.advance(by: .milliseconds(900))
        book.applyLease("db", state: .closed, generation: 1, lease: second, retryAfter: nil, requestedAt: clock.now)
        clock.advance(by: .milliseconds(999))
        #expect(book.decide("db", now: clock.now) == .allowLocally, "renewed at 900 ms: live until 1,900 ms")
        clock.advance(by: .milliseconds(1))
        #expect(book.decide("db", now: clock.now) == .askServer(.lapsed))

        // A lapsed lease is renewed by the next reply.
        book.applyLease("db", state: .closed, generation: 1, lease: second, retryAfter: nil, requestedAt: clock.now)
        #expect(book.decide("db", now: clock.now) == .allowLocally)
        #expect(book.lapsed(now: clock.now).isEmpty)
    }

    @Test func aZeroLeaseGrantsNothing() {
        var book = makeBook("db")
        let clock = ManualClock()
        book.applyLease("db", state: .closed, generation: 1, lease: .zero, retryAfter: nil, requestedAt: clock.now)
        #expect(book.decide("db", now: clock.now) == .askServer(.lapsed))
    }

    @Test func forcedClosedIsLeasedLikeClosed() {
        var book = makeBook("db")
        let clock = ManualClock()
        book.applyLease(
            "db",
            state: .forcedClosed,
            generation: 2,
            lease: second,
            retryAfter: nil,
            requestedAt: clock.now
        )
        #expect(book.decide("db", now: clock.now) == .allowLocally)
    }

    @Test func halfOpenAsksTheServerForEveryCall() {
        var book = makeBook("db")
        let clock = ManualClock()
        book.applyLease("db", state: .halfOpen, generation: 6, lease: .zero, retryAfter: nil, requestedAt: clock.now)
        #expect(book.decide("db", now: clock.now) == .askServer(.halfOpen))
        clock.advance(by: .seconds(10))
        #expect(book.decide("db", now: clock.now) == .askServer(.halfOpen))
        #expect(book.lapsed(now: clock.now).isEmpty, "half-open holds no lease to lapse")
    }

    @Test func openRejectsUntilTheRetryAfterThenAsks() {
        var book = makeBook("db")
        let clock = ManualClock()
        book.applyLease(
            "db",
            state: .open,
            generation: 5,
            lease: .zero,
            retryAfter: .seconds(30),
            requestedAt: clock.now
        )
        #expect(book.decide("db", now: clock.now) == .reject(state: .open, retryAfter: .seconds(30)))
        clock.advance(by: .seconds(10))
        #expect(book.decide("db", now: clock.now) == .reject(state: .open, retryAfter: .seconds(20)))
        clock.advance(by: .seconds(20) - .nanoseconds(1))
        #expect(book.decide("db", now: clock.now) == .reject(state: .open, retryAfter: .nanoseconds(1)))
        clock.advance(by: .nanoseconds(1))
        #expect(book.decide("db", now: clock.now) == .askServer(.lapsed), "the cooldown is over: acquire decides")

        book.applyLease(
            "db",
            state: .forcedOpen,
            generation: 6,
            lease: .zero,
            retryAfter: .seconds(60),
            requestedAt: clock.now
        )
        #expect(book.decide("db", now: clock.now) == .reject(state: .forcedOpen, retryAfter: .seconds(60)))
    }

    @Test func aPushedTripRejectsAtOnceAndAPushedCloseWaitsForANewLease() {
        var book = makeBook("db", "cache")
        let clock = ManualClock()
        book.applyLease("db", state: .closed, generation: 4, lease: second, retryAfter: nil, requestedAt: clock.now)
        book.applyLease("cache", state: .closed, generation: 1, lease: second, retryAfter: nil, requestedAt: clock.now)
        clock.advance(by: .milliseconds(10))

        book.applyEvent("db", transition(.closed, .open, generation: 5), now: clock.now)
        #expect(book.decide("db", now: clock.now) == .reject(state: .open, retryAfter: book.flushInterval))
        #expect(book.decide("cache", now: clock.now) == .allowLocally, "a push touches its resource only")
        #expect(book.state(of: "db") == .open)
        #expect(book.generation(of: "db") == 5)

        // Without a `lease` reply bringing the server's retry-after, the push's rejection ends after one
        // flush interval and the server is asked.
        clock.advance(by: book.flushInterval)
        #expect(book.decide("db", now: clock.now) == .askServer(.lapsed))

        book.applyEvent("db", transition(.open, .halfOpen, generation: 6), now: clock.now)
        #expect(book.decide("db", now: clock.now) == .askServer(.halfOpen))
        book.applyEvent("db", transition(.halfOpen, .closed, generation: 7), now: clock.now)
        #expect(book.state(of: "db") == .closed)
        #expect(
            book.decide("db", now: clock.now) == .askServer(.lapsed),
            "the lease granted before the trip (live until 1 s) does not come back"
        )
        book.applyLease("db", state: .closed, generation: 7, lease: second, retryAfter: nil, requestedAt: clock.now)
        #expect(book.decide("db", now: clock.now) == .allowLocally)
    }

    @Test func aPushedForceAppliesAndAStalePushIsIgnored() {
        var book = makeBook("db")
        let clock = ManualClock()
        book.applyLease("db", state: .closed, generation: 4, lease: second, retryAfter: nil, requestedAt: clock.now)
        book.applyEvent("db", transition(.closed, .forcedClosed, generation: 5), now: clock.now)
        #expect(book.decide("db", now: clock.now) == .allowLocally, "forced closed keeps the live lease")
        book.applyEvent("db", transition(.forcedClosed, .forcedOpen, generation: 6), now: clock.now)
        #expect(book.decide("db", now: clock.now) == .reject(state: .forcedOpen, retryAfter: book.flushInterval))

        book.applyEvent("db", transition(.closed, .forcedClosed, generation: 5), now: clock.now)
        book.applyEvent("db", transition(.closed, .forcedClosed, generation: 6), now: clock.now)
        #expect(book.state(of: "db") == .forcedOpen, "a push no newer than the book's generation is ignored")
    }

    @Test func theFirstFlushIsDueAtOnceThenEveryInterval() {
        var book = makeBook("db")
        let clock = ManualClock()
        #expect(book.nextFlush(now: clock.now) == clock.now)
        let sent = clock.now
        _ = book.takeCounts(now: sent)
        #expect(book.nextFlush(now: clock.now) == sent + .milliseconds(50))
        book.count(.success, for: "db")
        #expect(book.nextFlush(now: clock.now) == sent + .milliseconds(50), "a success changes nothing")
        clock.advance(by: .milliseconds(80))
        #expect(book.nextFlush(now: clock.now) == clock.now, "an overdue line is due now, not in the past")

        var custom = LeaseBook(flushInterval: .milliseconds(200))
        custom.track("db")
        _ = custom.takeCounts(now: sent)
        #expect(custom.nextFlush(now: sent) == sent + .milliseconds(200))
    }

    @Test func aFailureMakesTheFlushDueAtOnceButAtMostOncePer5ms() {
        var book = makeBook("db")
        let clock = ManualClock()
        let sent = clock.now
        _ = book.takeCounts(now: sent)

        clock.advance(by: .milliseconds(1))
        book.count(.failure, for: "db")
        #expect(book.nextFlush(now: clock.now) == sent + .milliseconds(5), "1 ms after a line: wait until 5 ms")
        clock.advance(by: .milliseconds(4))
        #expect(book.nextFlush(now: clock.now) == clock.now)

        let next = clock.now
        _ = book.takeCounts(now: next)
        #expect(book.nextFlush(now: clock.now) == next + .milliseconds(50), "back to the interval")
        clock.advance(by: .milliseconds(20))
        book.count(.failure, for: "db")
        #expect(book.nextFlush(now: clock.now) == clock.now, "20 ms after the last line: at once")
        book.count(.ignored, for: "db")
        _ = book.takeCounts(now: clock.now)
        book.count(.ignored, for: "db")
        #expect(book.nextFlush(now: clock.now) == clock.now + .milliseconds(50), "ignored is no failure")
    }

    @Test func countsAreTakenExactlyOnce() {
        var book = makeBook("db", "cache", "idle")
        let clock = ManualClock()
        for _ in 0..<120 { book.count(.success, for: "db") }
        for _ in 0..<3 { book.count(.failure, for: "db") }
        book.count(.ignored, for: "db")
        book.count(.failure, for: "cache")
        book.count(.failure, for: "untracked")

        #expect(
            book.takeCounts(now: clock.now) == [
                .init(resource: "cache", successes: 0, failures: 1),
                .init(resource: "db", successes: 120, failures: 3),
                .init(resource: "idle", successes: 0, failures: 0),
            ]
        )
        #expect(book.takeCounts(now: clock.now).allSatisfy { $0.successes == 0 && $0.failures == 0 })

        book.count(.success, for: "db")
        book.untrack("cache")
        #expect(book.resources.sorted() == ["db", "idle"])
        #expect(
            book.takeCounts(now: clock.now) == [
                .init(resource: "db", successes: 1, failures: 0),
                .init(resource: "idle", successes: 0, failures: 0),
            ]
        )
    }

    @Test func nothingIsDueWithoutResources() {
        var book = LeaseBook()
        let clock = ManualClock()
        #expect(book.nextFlush(now: clock.now) == nil)
        book.track("db")
        book.untrack("db")
        #expect(book.nextFlush(now: clock.now) == nil)
    }

    @Test func forgettingAskTheServerAgain() {
        var book = makeBook("db", "cache")
        let clock = ManualClock()
        book.applyLease("db", state: .closed, generation: 4, lease: second, retryAfter: nil, requestedAt: clock.now)
        book.applyLease("cache", state: .closed, generation: 2, lease: second, retryAfter: nil, requestedAt: clock.now)
        _ = book.takeCounts(now: clock.now)
        book.count(.failure, for: "db")

        // A bad entry (or a deleted breaker): that resource asks again; its counts wait for the next line.
        book.forgetState(of: "db")
        #expect(book.decide("db", now: clock.now) == .askServer(.unknown))
        #expect(book.decide("cache", now: clock.now) == .allowLocally)
        #expect(book.takeCounts(now: clock.now).first { $0.resource == "db" }?.failures == 1)

        // The connection was lost: every lease ends, counts are dropped, and a line is due at once.
        book.count(.success, for: "cache")
        clock.advance(by: .milliseconds(1))
        book.forgetAll()
        #expect(book.decide("cache", now: clock.now) == .askServer(.unknown))
        #expect(book.nextFlush(now: clock.now) == clock.now)
        #expect(book.takeCounts(now: clock.now).allSatisfy { $0.successes == 0 && $0.failures == 0 })
    }

    @Test func aSlotDecidesAndCountsAsTheNameDoesAndIsReusedOnlyAfterUntrack() {
        var book = LeaseBook()
        let clock = ManualClock()
        let db = book.track("db")
        let cache = book.track("cache")
        #expect(book.track("db") == db, "tracking twice returns the same slot")
        #expect(db != cache)
        #expect(book.decide(db, now: clock.now) == .askServer(.unknown))
        book.applyLease("db", state: .closed, generation: 1, lease: second, retryAfter: nil, requestedAt: clock.now)
        #expect(book.decide(db, now: clock.now) == .allowLocally)
        #expect(book.decide(cache, now: clock.now) == .askServer(.unknown))
        _ = book.takeCounts(now: clock.now)
        book.count(.success, at: db)
        book.count(.failure, at: db)
        book.count(.ignored, at: db)
        #expect(book.nextFlush(now: clock.now) == clock.now + LeaseBook.failureFlushSpacing, "a failure by slot")
        let counts = book.takeCounts(now: clock.now)
        #expect(counts.first { $0.resource == "db" } == LeaseBook.Counts(resource: "db", successes: 1, failures: 1))

        // An untracked resource's slot decides nothing and counts nothing, until a new resource reuses it.
        book.untrack("db")
        #expect(book.decide(db, now: clock.now) == .askServer(.unknown))
        book.count(.failure, at: db)
        #expect(book.takeCounts(now: clock.now).map(\.resource) == ["cache"])
        let search = book.track("search")
        #expect(search == db)
        #expect(book.decide(search, now: clock.now) == .askServer(.unknown), "a reused slot starts afresh")
        #expect(book.takeCounts(now: clock.now).map(\.resource) == ["cache", "search"])
        #expect(book.decide(LeaseBook.Slot(index: -1), now: clock.now) == .askServer(.unknown))
    }
    // MARK: Issue #16

    @Test func slowOutcomesAreCountedWithTheirBatchAndTakenOnce() {
        var book = makeBook("db")
        let clock = ManualClock()
        book.count(.success, for: "db")
        book.count(.success, slow: true, for: "db")
        book.count(.failure, slow: true, for: "db")
        book.count(.ignored, slow: true, for: "db")
        book.forgetState(of: "db")
        #expect(book.takeCounts(now: clock.now) == [.init(resource: "db", successes: 2, failures: 1, slow: 2)])
        #expect(book.takeCounts(now: clock.now) == [.init(resource: "db", successes: 0, failures: 0, slow: 0)])
    }

    @Test func aShadowLeaseOnAnOpenBreakerAllowsUntilItsEnd() {
        var book = makeBook("db")
        let clock = ManualClock()
        book.applyLease(
            "db",
            state: .open,
            generation: 3,
            lease: second,
            retryAfter: nil,
            wouldAllow: false,
            requestedAt: clock.now
        )
        #expect(book.decide("db", now: clock.now) == .allowInShadow(state: .open))
        #expect(book.state(of: "db") == .open, "the true state")
        clock.advance(by: second - .nanoseconds(1))
        #expect(book.decide("db", now: clock.now) == .allowInShadow(state: .open))
        #expect(book.lapsed(now: clock.now).isEmpty)
        clock.advance(by: .nanoseconds(1))
        #expect(book.decide("db", now: clock.now) == .askServer(.lapsed))
        #expect(book.lapsed(now: clock.now) == ["db"])

        book.applyLease(
            "db",
            state: .forcedOpen,
            generation: 4,
            lease: second,
            retryAfter: nil,
            wouldAllow: false,
            requestedAt: clock.now
        )
        #expect(book.decide("db", now: clock.now) == .allowInShadow(state: .forcedOpen))
        book.applyLease(
            "db",
            state: .open,
            generation: 5,
            lease: .zero,
            retryAfter: .seconds(30),
            requestedAt: clock.now
        )
        #expect(
            book.decide("db", now: clock.now) == .reject(state: .open, retryAfter: .seconds(30)),
            "back in enforce mode, open rejects again"
        )
    }

    @Test func aPushedShadowTripKeepsTheLease() {
        var book = makeBook("db")
        let clock = ManualClock()
        book.applyLease("db", state: .closed, generation: 4, lease: second, retryAfter: nil, requestedAt: clock.now)
        let trip = TransitionRecord(
            from: .closed,
            to: .open,
            cause: .slowCallThreshold,
            generation: 5,
            atMs: 0,
            shadow: true
        )
        book.applyEvent("db", trip, now: clock.now)
        #expect(book.decide("db", now: clock.now) == .allowInShadow(state: .open))
        clock.advance(by: second)
        #expect(book.decide("db", now: clock.now) == .askServer(.lapsed), "until the lease granted before ends")

        book.applyLease("db", state: .closed, generation: 7, lease: second, retryAfter: nil, requestedAt: clock.now)
        book.applyEvent("db", transition(.closed, .open, generation: 8), now: clock.now)
        #expect(book.decide("db", now: clock.now) == .reject(state: .open, retryAfter: book.flushInterval))
    }
}
