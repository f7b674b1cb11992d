import BreakerCore
import Testing

/// Rule 6: operators' forces, TTLs, release, reset and configure.
@Suite struct ForceAndResetTests {
    @Test func forcedOpenRejectsEverything() throws {
        var m = BreakerStateMachine(policy: try policy("1/1"), now: at(0))
        let t = m.force(.open, ttl: nil, reason: "db migration", by: "alice", now: at(1))
        #expect(t == BreakerTransition(from: .closed, to: .forcedOpen, cause: .forced, generation: 1, at: at(1)))
        #expect(m.force?.reason == "db migration" && m.force?.by == "alice")
        let d = m.acquire(now: at(2))
        #expect(!d.allowed && d.retryAfter == .seconds(30), "without a TTL the cooldown is the hint")
        #expect(m.report(.success, permit: nil, now: at(2)).ignoredBecause == .forcedOpen)
        #expect(m.retryAfter(now: at(2)) == nil)
    }

    @Test func forcedClosedAllowsRecordsAndNeverTrips() throws {
        var m = BreakerStateMachine(policy: try policy("1/2"), now: at(0))
        _ = m.force(.closed, ttl: nil, reason: nil, by: nil, now: at(1))
        #expect(m.feed(Array(repeating: F, count: 50), now: at(2)).isEmpty)
        #expect(m.acquire(now: at(3)).allowed)
        #expect(m.window.totals(now: at(3)) == (2, 2), "outcomes are still recorded")
        #expect(m.state == .forcedClosed)
    }

    @Test func forceTTLExpiresAtTheEdge() throws {
        var m = BreakerStateMachine(policy: try policy("1/1"), now: at(0))
        _ = m.force(.open, ttl: .seconds(60), reason: nil, by: nil, now: at(0))
        let before = m.acquire(now: at(59_999))
        #expect(!before.allowed && before.retryAfter == .milliseconds(1))
        #expect(m.retryAfter(now: at(59_999)) == .milliseconds(1))
        let after = m.acquire(now: at(60_000))
        #expect(after.allowed && after.transitions.map(\.cause) == [.forceExpired])
        #expect(m.state == .closed && m.force == nil)
    }

    @Test func aForceKeepsTheTTLItWasSetWithAndARestoreKeepsIt() throws {
        var m = BreakerStateMachine(policy: try policy("1/1"), now: at(0))
        _ = m.force(.open, ttl: .seconds(600), reason: "deploy", by: "bob", now: at(10))
        #expect(m.force?.ttl == .seconds(600) && m.force?.until == at(600_010))
        _ = m.force(.closed, ttl: nil, reason: nil, by: nil, now: at(20))
        #expect(m.force?.ttl == nil && m.force?.until == nil)

        // A restore after a restart: 100 s left of a 600 s force, on a new monotonic origin.
        let restoredForce = BreakerForce(
            target: .open,
            reason: "deploy",
            by: "bob",
            until: at(100_000),
            ttl: .seconds(600)
        )
        var r = BreakerStateMachine(
            restoring: .forcedOpen,
            policy: try policy("1/1"),
            generation: 4,
            changedAt: at(0),
            openUntil: at(0),
            force: restoredForce,
            window: nil,
            nextPermitSequence: 1
        )
        #expect(r.force == restoredForce && r.force?.ttl == .seconds(600))
        #expect(r.retryAfter(now: at(0)) == .seconds(100))
        #expect(r.expire(now: at(100_000))?.cause == .forceExpired)
        #expect(BreakerForce(target: .closed, reason: nil, by: nil, until: nil).ttl == nil, "ttl defaults to nil")
    }

    @Test func expireEndsAForceWithoutTraffic() throws {
        var m = BreakerStateMachine(policy: try policy("1/1"), now: at(0))
        _ = m.force(.closed, ttl: .seconds(5), reason: nil, by: nil, now: at(0))
        #expect(m.nextExpiry == at(5_000))
        #expect(m.expire(now: at(4_999)) == nil)
        let expired = m.expire(now: at(5_000))
        let t = try #require(expired)
        #expect(t.from == .forcedClosed && t.to == .closed && t.cause == .forceExpired)
    }

    @Test func aReportAfterExpiryCountsInTheNewWindow() throws {
        var m = BreakerStateMachine(policy: try policy("1/1"), now: at(0))
        _ = m.force(.closed, ttl: .seconds(1), reason: nil, by: nil, now: at(0))
        let r = m.report(.failure, permit: nil, now: at(1_000))
        #expect(r.transitions.map(\.cause) == [.forceExpired, .failureThreshold])
        #expect(m.state == .open && m.generation == 3)
    }

    @Test func releaseReturnsToClosedWithAnEmptyWindow() throws {
        var m = BreakerStateMachine(policy: try policy("3/3"), now: at(0))
        _ = m.force(.closed, ttl: nil, reason: nil, by: nil, now: at(0))
        _ = m.feed([F, F], now: at(1))
        let released = m.release(now: at(2))
        let t = try #require(released)
        #expect(t.from == .forcedClosed && t.to == .closed && t.cause == .released)
        #expect(m.window.totals(now: at(2)) == (0, 0))
        #expect(m.release(now: at(3)) == nil, "release of an automatic breaker changes nothing")
    }

    @Test func resetFromEveryState() throws {
        for start in BreakerState.allCases {
            var m = BreakerStateMachine(policy: try policy("1/1", cooldownMs: 0), now: at(0))
            switch start {
            case .closed: break
            case .open: m.trip(now: at(0))
            case .halfOpen:
                m.trip(now: at(0))
                _ = m.acquire(now: at(0))
            case .forcedOpen: _ = m.force(.open, ttl: nil, reason: nil, by: nil, now: at(0))
            case .forcedClosed: _ = m.force(.closed, ttl: nil, reason: nil, by: nil, now: at(0))
            }
            #expect(m.state == start)
            let g = m.generation
            let t = m.reset(now: at(1))
            #expect(t.from == start && t.to == .closed && t.cause == .reset && t.generation == g + 1)
            #expect(m.state == .closed && m.force == nil && m.halfOpenCounts == (0, 0, 0))
        }
    }

    @Test func configureReplacesThePolicy() throws {
        var m = BreakerStateMachine(policy: try policy("1/1"), now: at(0))
        m.trip(now: at(0))
        let configured = m.configure(try policy("2/3"), now: at(1))
        let t = try #require(configured)
        #expect(t.from == .open && t.to == .closed && t.cause == .configured)
        #expect(m.policy.failureThreshold == Fraction(2, 3))
        #expect(m.feed([F], now: at(2)).isEmpty, "the new policy needs 3 calls")

        _ = m.force(.open, ttl: nil, reason: "keep", by: nil, now: at(3))
        #expect(m.configure(try policy("1/4"), now: at(4)) == nil, "a forced breaker stays forced")
        #expect(m.state == .forcedOpen && m.force?.reason == "keep")
        #expect(m.policy.failureThreshold == Fraction(1, 4))
    }

    @Test func everyTransitionIncrementsTheGeneration() throws {
        var m = BreakerStateMachine(policy: try policy("1/1", cooldownMs: 0), now: at(0))
        var all: [BreakerTransition] = []
        all += m.feed([F], now: at(1))
        all += m.acquire(now: at(2)).transitions
        all.append(m.force(.open, ttl: nil, reason: nil, by: nil, now: at(3)))
        all += [m.release(now: at(4))].compactMap { $0 }
        all.append(m.reset(now: at(5)))
        #expect(all.map(\.generation) == [1, 2, 3, 4, 5])
        #expect(all.map(\.cause) == [.failureThreshold, .cooldownElapsed, .forced, .released, .reset])
    }
}
