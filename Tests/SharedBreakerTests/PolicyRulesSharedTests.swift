import BreakerProtocol
import BreakerTestSupport
import Foundation
import HighwayBreaker
import Testing

/// Issue #16 through `SharedCircuitBreaker` against the real breakerd: slow calls timed by the client's clock
/// (strict mode sends the duration, leased mode the slow count) and shadow mode in both modes.
@Suite struct PolicyRulesSharedTests {
    /// Trips at 2 slow calls of 4 (100 ms or more); failures alone would need 4 of 4.
    let slowPolicy = try! BreakerPolicy(
        failureThreshold: Fraction(4, 4),
        cooldown: .seconds(60),
        slowCallDuration: .milliseconds(100),
        slowCallThreshold: Fraction(2, 4)
    )

    /// Runs one call through `breaker` that takes `duration` on `clock`.
    func call(_ breaker: SharedCircuitBreaker, taking duration: Duration, on clock: ManualClock) async throws {
        try await breaker.run { clock.advance(by: duration) }
    }

    @Test(.timeLimit(.minutes(1)))
    func strictModeSendsDurationsAndTheServerTripsOnSlowCalls() async throws {
        let server = try ServerProcess(arguments: [])
        let client = try await connectedClient(port: server.port, timeout: .seconds(5))
        let clock = ManualClock()
        let breaker = try SharedCircuitBreaker(resource: "slow", policy: slowPolicy, client: client, clock: clock)
        try await call(breaker, taking: .microseconds(99_999), on: clock)
        try await call(breaker, taking: .milliseconds(100), on: clock)
        try await call(breaker, taking: .milliseconds(20), on: clock)
        var status = try await client.status("slow")
        #expect(status.windowCalls == 3 && status.windowSlow == 1, "99.999 ms is not slow, 100 ms is")
        #expect(status.state == .closed)
        try await call(breaker, taking: .milliseconds(250), on: clock)
        status = try await client.status("slow")
        #expect(status.state == .open, "2 slow of 4")
        #expect(try await client.history("slow", limit: 1).first?.cause == .slowCallThreshold)
        await #expect(throws: CircuitOpenError.self) { try await call(breaker, taking: .zero, on: clock) }
    }

    @Test(.timeLimit(.minutes(1)))
    func leasedModeCountsSlowCallsInItsLeaseEntries() async throws {
        let server = try ServerProcess(arguments: [])
        let client = try await connectedClient(port: server.port, name: "leased", timeout: .seconds(5))
        let clock = ManualClock()
        let breaker = try SharedCircuitBreaker(
            resource: "slow-leased",
            policy: slowPolicy,
            client: client,
            consistency: .leased,
            clock: clock
        )
        try await breaker.subscribed()
        #expect(try await eventually(timeout: .seconds(10)) { try await client.status("slow-leased").leases == 1 })
        _ = try await client.reset("slow-leased")
        // Decided locally under the lease: the client times the calls and sends the slow count.
        try await call(breaker, taking: .milliseconds(5), on: clock)
        try await call(breaker, taking: .milliseconds(100), on: clock)
        try await call(breaker, taking: .microseconds(99_999), on: clock)
        #expect(
            try await eventually(timeout: .seconds(10)) {
                let status = try await client.status("slow-leased")
                return status.windowCalls == 3 && status.windowSlow == 1
            }
        )
        #expect(try await client.status("slow-leased").state == .closed)
        try await call(breaker, taking: .seconds(1), on: clock)
        #expect(try await eventually(timeout: .seconds(10)) { try await client.status("slow-leased").state == .open })
        #expect(try await client.history("slow-leased", limit: 1).first?.cause == .slowCallThreshold)
    }

    /// Collects the states `onShadowRejection` reports.
    final class ShadowLog: Sendable {
        private let log = Log()
        func handler() -> SharedCircuitBreaker.ShadowRejectionHandler { { _, state in self.log.append("\(state)") } }
        var states: [String] { log.all }
    }

    @Test(.timeLimit(.minutes(1)))
    func strictShadowModeRunsEveryCallAndSaysWhichEnforceWouldHaveRejected() async throws {
        let server = try ServerProcess(arguments: [])
        let client = try await connectedClient(port: server.port, timeout: .seconds(5))
        let policy = try BreakerPolicy(failureThreshold: Fraction(1, 1), cooldown: .seconds(60), mode: .shadow)
        let shadow = ShadowLog()
        let breaker = try SharedCircuitBreaker(
            resource: "trial",
            policy: policy,
            client: client,
            onShadowRejection: shadow.handler()
        )
        await #expect(throws: ServiceDown.self) { try await breaker.run { throw ServiceDown() } }
        #expect(try await client.status("trial").state == .open, "the true state")
        let ran = Counter()
        for _ in 0..<3 { try await breaker.run { ran.bump() } }
        #expect(ran.count == 3)
        #expect(breaker.shadowRejectionCount == 3 && shadow.states == ["open", "open", "open"])
        let trip = try #require(try await client.history("trial", limit: 1).first)
        #expect(trip.to == .open && trip.shadow)

        _ = try await client.force("trial", .open, reason: "drill")
        try await breaker.run { ran.bump() }
        #expect(ran.count == 4 && shadow.states.last == "forced_open")
    }

    @Test(.timeLimit(.minutes(1)))
    func leasedShadowModeKeepsDecidingLocallyWhileOpen() async throws {
        let server = try ServerProcess(arguments: [])
        let client = try await connectedClient(port: server.port, name: "leased", timeout: .seconds(5))
        let policy = try BreakerPolicy(failureThreshold: Fraction(1, 1), cooldown: .seconds(60), mode: .shadow)
        let breaker = try SharedCircuitBreaker(
            resource: "trial-leased",
            policy: policy,
            client: client,
            consistency: .leased
        )
        try await breaker.subscribed()
        #expect(try await eventually(timeout: .seconds(10)) { try await client.status("trial-leased").leases == 1 })
        _ = try? await breaker.run { throw ServiceDown() }
        #expect(try await eventually(timeout: .seconds(10)) { try await client.status("trial-leased").state == .open })
        // Open in shadow mode: no call is rejected, and once the client heard of the trip (push or lease reply)
        // the calls run locally, counted as shadow rejections, without asking the server.
        let ran = Counter()
        #expect(
            try await eventually(timeout: .seconds(10)) {
                try await breaker.run { ran.bump() }
                return breaker.shadowRejectionCount > 0
            }
        )
        let before = try await client.stats().count(of: .acquire)
        for _ in 0..<200 { try await breaker.run { ran.bump() } }
        let after = try await client.stats().count(of: .acquire)
        #expect(after - before < 20, "decided under the lease, not by acquire")
        #expect(breaker.shadowRejectionCount >= 200)
        #expect(breaker.lastKnownState == .open)
    }
}
