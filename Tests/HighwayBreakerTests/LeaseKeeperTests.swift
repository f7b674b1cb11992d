import Synchronization
import Testing

@testable import HighwayBreaker

/// What `LeaseKeeper` hands its driver and its transport, on a manual clock. No server answers here: a
/// request either waits or fails as a lost connection would; what leases do is `LeaseBookTests`' part, and
/// the answers are tested live once breakerd has the `lease` op.
@Suite struct LeaseKeeperTests {
    /// Records the `lease` requests handed to it; they wait until the test fails them.
    final class RecordingTransport: LeaseTransport {
        typealias Completion = @Sendable (Result<[LeaseKeeper.Answer], BreakerClientError>) -> Void
        private let requests = Mutex<[([LeaseKeeper.Outgoing], Completion)]>([])

        func sendLease(_ entries: [LeaseKeeper.Outgoing], completion: @escaping Completion) {
            requests.withLock { $0.append((entries, completion)) }
        }

        var sent: [[LeaseKeeper.Outgoing]] { requests.withLock { $0.map(\.0) } }

        /// Fails the oldest waiting request as a lost connection does.
        func failOldest() {
            let completion = requests.withLock { $0.isEmpty ? nil : $0.removeFirst().1 }
            completion?(.failure(BreakerClientError(code: .disconnected, message: "lost")))
        }
    }

    final class Wakes: Sendable {
        private let count = Atomic(0)
        func wake() { count.add(1, ordering: .relaxed) }
        var total: Int { count.load(ordering: .relaxed) }
    }

    private let policy = try! BreakerPolicy(failureThreshold: Fraction(5, 20))

    @Test func oneLineCarriesEveryResourceWithItsPolicyAndOneIsInFlightAtATime() {
        let clock = ManualClock()
        let wakes = Wakes()
        let keeper = LeaseKeeper(clock: clock, wakeDriver: wakes.wake)
        let transport = RecordingTransport()
        #expect(keeper.nextFlush() == nil, "nothing leased: nothing to send")

        keeper.register("db", policy: policy)
        keeper.register("cache", policy: nil)
        #expect(wakes.total == 2, "each registration wakes the driver to plan")
        #expect(keeper.decide("db") == .askServer(.unknown))
        #expect(keeper.nextFlush() == clock.now, "the first line is due at once")

        #expect(keeper.flushIfDue(via: transport))
        #expect(
            transport.sent == [
                [
                    .init(resource: "cache", successes: 0, failures: 0, policy: nil),
                    .init(resource: "db", successes: 0, failures: 0, policy: policy),
                ]
            ]
        )
        clock.advance(by: .seconds(1))
        #expect(keeper.nextFlush() == nil, "in flight: the answer wakes the driver")
        #expect(!keeper.flushIfDue(via: transport))
        #expect(transport.sent.count == 1)

        // A request that fails as a whole frees the way; the policy was never answered, so it goes again.
        transport.failOldest()
        #expect(wakes.total == 3)
        #expect(keeper.nextFlush() == clock.now)
        #expect(keeper.flushIfDue(via: transport))
        #expect(transport.sent.last?.first { $0.resource == "db" }?.policy == policy)
    }

    @Test func theFirstFailureWakesTheDriverAndCountsLeaveOnce() {
        let clock = ManualClock()
        let wakes = Wakes()
        let keeper = LeaseKeeper(clock: clock, wakeDriver: wakes.wake)
        let transport = RecordingTransport()
        keeper.register("db", policy: nil)
        keeper.flushIfDue(via: transport)
        transport.failOldest()
        let before = wakes.total

        keeper.count(.success, for: "db")
        keeper.count(.success, for: "db")
        #expect(wakes.total == before, "successes wait for the interval")
        #expect(keeper.nextFlush() == clock.now + .milliseconds(50))
        keeper.count(.failure, for: "db")
        #expect(wakes.total == before + 1, "the first failure makes the line due sooner")
        #expect(keeper.nextFlush() == clock.now + .milliseconds(5))
        keeper.count(.failure, for: "db")
        #expect(wakes.total == before + 1, "a second failure changes nothing")

        clock.advance(by: .milliseconds(5))
        #expect(keeper.flushIfDue(via: transport))
        #expect(transport.sent.last == [.init(resource: "db", successes: 2, failures: 2, policy: nil)])
        transport.failOldest()
        clock.advance(by: .milliseconds(50))
        #expect(keeper.flushIfDue(via: transport))
        #expect(transport.sent.last == [.init(resource: "db", successes: 0, failures: 0, policy: nil)])
    }

    @Test func aResourceIsLeasedUntilItsLastBreakerGoes() {
        let clock = ManualClock()
        let keeper = LeaseKeeper(clock: clock, wakeDriver: {})
        let transport = RecordingTransport()
        keeper.register("db", policy: nil)
        keeper.register("db", policy: nil)
        keeper.unregister("db")
        keeper.flushIfDue(via: transport)
        #expect(transport.sent.last?.map(\.resource) == ["db"])
        transport.failOldest()
        keeper.unregister("db")
        #expect(keeper.nextFlush() == nil)
    }

    @Test func aLostConnectionIgnoresTheAnswerOfItsRequest() {
        let clock = ManualClock()
        let keeper = LeaseKeeper(clock: clock, wakeDriver: {})
        let transport = RecordingTransport()
        keeper.register("db", policy: nil)
        keeper.flushIfDue(via: transport)
        keeper.connectionLost()
        #expect(keeper.nextFlush() == clock.now, "due again as soon as the next connection is up")
        #expect(keeper.flushIfDue(via: transport))
        transport.failOldest()  // the first connection's request ends late: the new one stays in flight
        #expect(keeper.nextFlush() == nil)
    }
    @Test func slowCountsTravelWithTheirEntryWithinItsCounts() {
        let clock = ManualClock()
        let keeper = LeaseKeeper(clock: clock, wakeDriver: {})
        let transport = RecordingTransport()
        keeper.register("db", policy: nil)
        keeper.count(.success, slow: true, for: "db")
        keeper.count(.failure, slow: true, for: "db")
        keeper.count(.success, for: "db")
        #expect(keeper.flushIfDue(via: transport))
        #expect(transport.sent.last == [.init(resource: "db", successes: 2, failures: 1, slow: 2, policy: nil)])
    }
}
