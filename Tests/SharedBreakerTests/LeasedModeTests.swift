import BreakerProtocol
import BreakerTestSupport
import Foundation
import HighwayBreaker
import Testing

/// Leased mode against the real breakerd (issue #14): closed circuits decide locally once a lease is held, the
/// outcomes reach the server in aggregate, a trip or a force reaches leased clients by push.
@Suite struct LeasedModeTests {
    func stats(_ client: BreakerClient) async throws -> StatsReply { try await client.stats() }

    @Test(.timeLimit(.minutes(1)))
    func closedCallsTakeNoRoundTripOnceLeasedAndCountsReachTheServer() async throws {
        let server = try ServerProcess(arguments: [])
        let client = try await connectedClient(port: server.port, name: "leased", timeout: .seconds(5))
        let policy = try BreakerPolicy(failureThreshold: Fraction(50, 100), cooldown: .seconds(60))
        let breaker = try SharedCircuitBreaker(
            resource: "leased-db",
            policy: policy,
            client: client,
            consistency: .leased
        )
        try await breaker.subscribed()
        // The first calls ask the server until the first lease line is answered (one flush interval).
        #expect(
            try await eventually(timeout: .seconds(10)) {
                try await breaker.run {}
                return try await client.status("leased-db").leases == 1
            }
        )
        let before = try await stats(client)
        for _ in 0..<2_000 { try await breaker.run {} }
        let after = try await stats(client)
        #expect(after.count(of: .acquire) - before.count(of: .acquire) < 50, "closed calls were decided locally")
        // The successes reach the server's window with the next lease lines.
        #expect(
            try await eventually(timeout: .seconds(10)) {
                try await client.status("leased-db").windowCalls == 100
            }
        )
    }

    @Test(.timeLimit(.minutes(1)))
    func aTripAndAForceReachLeasedClientsByPush() async throws {
        let server = try ServerProcess(arguments: [])
        let a = try await connectedClient(port: server.port, name: "a", timeout: .seconds(5))
        let b = try await connectedClient(port: server.port, name: "b", timeout: .seconds(5))
        let policy = try BreakerPolicy(failureThreshold: Fraction(5, 10), cooldown: .seconds(60))
        let onA = try SharedCircuitBreaker(resource: "shared", policy: policy, client: a, consistency: .leased)
        let onB = try SharedCircuitBreaker(resource: "shared", policy: policy, client: b, consistency: .leased)
        try await onA.subscribed()
        try await onB.subscribed()
        #expect(
            try await eventually(timeout: .seconds(10)) {
                try await onA.run {}
                try await onB.run {}
                return try await a.status("shared").leases == 2
            }
        )
        // A's failures trip the circuit on the server; B, which saw none of them, rejects within one push.
        for _ in 0..<10 { _ = try? await onA.run { throw ServiceDown() } }
        #expect(
            try await eventually(timeout: .seconds(10)) {
                do {
                    try await onB.run {}
                    return false
                } catch let error as CircuitOpenError {
                    return error.state == .open
                }
            }
        )
        // An operator's force closed reaches both, and calls go ahead again.
        _ = try await a.force("shared", .closed, reason: "test")
        #expect(
            await eventually(timeout: .seconds(10)) {
                (try? await onB.run {}) != nil && onB.lastKnownState == .forcedClosed
            }
        )
    }

    /// After breakerd restarts, the first `lease` reply may come before any call asks the server; calls are then
    /// decided under the lease, and the outage must end there too (it used to end only on an `acquire` answer).
    @Test(.timeLimit(.minutes(1)))
    func anOutageEndsWhenTheLeaseIsRenewedAfterARestart() async throws {
        let db = NSTemporaryDirectoryPath() + "/leased-restart.sqlite"
        let server = try ServerProcess(arguments: ["--db", db])
        let port = server.port
        let client = try await connectedClient(port: port, name: "leased", timeout: .milliseconds(100))
        let breaker = try SharedCircuitBreaker(resource: "renewed", client: client, consistency: .leased)
        #expect(
            try await eventually(timeout: .seconds(10)) {
                try await breaker.run {}
                return (try? await client.status("renewed"))?.leases == 1
            }
        )
        server.signal(SIGKILL)
        _ = server.waitForExit()
        #expect(await eventually { !client.isConnected })
        try await breaker.run {}
        #expect(breaker.isInFallback, "the server is gone: the fallback decided")

        let again = try ServerProcess(arguments: ["--db", db], listen: "127.0.0.1:\(port)")
        let admin = try await connectedClient(port: port, name: "admin", timeout: .seconds(5))
        // No call until the client has renewed its lease by itself: the next call is decided under it.
        #expect(
            await eventually(timeout: .seconds(10)) { (try? await admin.status("renewed"))?.leases == 1 }
        )
        try await breaker.run {}
        #expect(!breaker.isInFallback, "a call decided under a renewed lease is not the fallback's")
        _ = again
    }
}
