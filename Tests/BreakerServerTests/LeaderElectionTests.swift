import BreakerCore
import Testing

@testable import BreakerServer

/// The election's rules on instants passed by hand (issue #19): no sockets, no etcd, no sleeping.
@Suite struct LeaderElectionTests {
    let t0 = MonotonicInstant(nanoseconds: 1_000_000_000)

    func at(_ ms: Int64) -> MonotonicInstant { t0 + .milliseconds(ms) }

    @Test func aNewReplicaCampaignsThenLoadsBeforeItServes() {
        var e = LeaderElection(lease: .seconds(2), now: t0)
        #expect(e.next(now: t0) == .campaign)
        #expect(!e.mayServe(now: t0))
        e.won(lease: 7, revision: 42, sentAt: t0, now: at(5))
        #expect(e.role == .leader(loaded: false) && e.revision == 42)
        #expect(!e.mayServe(now: at(5)), "not before the state is loaded")
        #expect(e.next(now: at(5)) == .load)
        e.loaded(now: at(10))
        #expect(e.mayServe(now: at(10)))
        #expect(e.next(now: at(10)) == .renew(lease: 7))
    }

    @Test func aLeaderStopsServingBeforeItsLeaseCanEnd() {
        // Lease 2 s, margin 500 ms: the grant was sent at t0, so etcd keeps the key until t0 + 2 s at the earliest.
        var e = LeaderElection(lease: .seconds(2), now: t0)
        e.won(lease: 1, revision: 5, sentAt: t0, now: at(1))
        e.loaded(now: at(2))
        #expect(e.mayServe(now: at(1_499)))
        #expect(!e.mayServe(now: at(1_500)), "the last instant is lease − margin after the grant was sent")
        // Past the window the leader steps down and campaigns again (with a fresh lease).
        #expect(e.next(now: at(1_500)) == .campaign)
        #expect(e.role == .follower(leader: nil) && e.revision == nil && e.leaseID == nil)
    }

    @Test func aRenewalExtendsTheWindowFromWhenItWasSent() {
        var e = LeaderElection(lease: .seconds(2), now: t0)
        e.won(lease: 1, revision: 5, sentAt: t0, now: at(1))
        e.loaded(now: at(2))
        #expect(e.next(now: at(2)) == .renew(lease: 1), "the first renewal comes as soon as the state is loaded")
        // The renewal sent at 500 ms but answered at 1,200 ms counts from 500 ms.
        e.renewed(sentAt: at(500), now: at(1_200))
        #expect(e.mayServe(now: at(1_999)) && !e.mayServe(now: at(2_000)))
        #expect(e.next(now: at(1_200)) == .wait(until: at(1_200) + e.interval))
        #expect(e.next(now: at(1_700)) == .renew(lease: 1))
    }

    @Test func etcdOutOfReachKeepsServingOnlyWithinTheWindow() {
        var e = LeaderElection(lease: .seconds(2), now: t0)
        e.won(lease: 1, revision: 5, sentAt: t0, now: at(1))
        e.loaded(now: at(2))
        e.unreachable(now: at(500))
        #expect(e.failures == 1 && e.mayServe(now: at(1_000)))
        e.unreachable(now: at(1_400))
        #expect(!e.mayServe(now: at(1_500)))
        _ = e.next(now: at(1_500))
        #expect(e.role == .follower(leader: nil))
    }

    @Test func aLoserFollowsAndPollsUntilTheKeyIsFree() {
        var e = LeaderElection(lease: .seconds(2), now: t0)
        e.lost(to: "10.0.0.1:7433", now: t0)
        #expect(e.knownLeader == "10.0.0.1:7433" && !e.mayServe(now: t0))
        #expect(e.next(now: t0) == .wait(until: t0 + e.interval))
        #expect(e.next(now: t0 + e.interval) == .poll)
        e.polled(leader: "10.0.0.1:7433", now: at(600))
        #expect(e.next(now: at(600)) == .wait(until: at(600) + e.interval))
        // The leader is gone: the next step is a campaign, at once.
        e.polled(leader: nil, now: at(1_200))
        #expect(e.knownLeader == nil && e.next(now: at(1_200)) == .campaign)
    }

    @Test func aDeposedLeaderStepsDownAtOnce() {
        var e = LeaderElection(lease: .seconds(2), now: t0)
        e.won(lease: 1, revision: 5, sentAt: t0, now: at(1))
        e.loaded(now: at(2))
        e.deposed(leader: "10.0.0.9:7433", now: at(100))
        #expect(!e.mayServe(now: at(100)) && e.knownLeader == "10.0.0.9:7433")
        #expect(e.next(now: at(100)) == .poll)
    }

    @Test func unreachableBacksOffUpToTheLease() {
        var e = LeaderElection(lease: .seconds(2), now: t0)
        var waits: [Duration] = []
        var now = t0
        for _ in 0..<8 {
            e.unreachable(now: now)
            guard case .wait(let until) = e.next(now: now) else { break }
            waits.append(until - now)
            now = until
        }
        #expect(waits.count == 8)
        #expect(waits == waits.sorted() && waits.last! <= .seconds(2) && waits.first! >= .milliseconds(10))
    }
}
