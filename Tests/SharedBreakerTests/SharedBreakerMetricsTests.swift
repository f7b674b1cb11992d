import BreakerProtocol
import BreakerTestSupport
import CoreMetrics
import Foundation
import HighwayBreaker
import MetricsTestKit
import Testing

/// `SharedCircuitBreaker`'s swift-metrics against a live server: calls counted by resource, outcome and who
/// decided (the server, or the fallback while breakerd cannot be asked), and every call that ran timed. Each test
/// binds its own `TestMetrics` while it creates its breakers (`withMetricsFactory`), so tests running in parallel
/// do not see each other's counts.
@Suite struct SharedBreakerMetricsTests {
    static let calls = "highway_breaker_client_calls_total"
    static let duration = "highway_breaker_client_call_duration_seconds"

    static func count(_ metrics: TestMetrics, _ resource: String, _ outcome: String, _ source: String) -> Int64 {
        let dimensions = [("resource", resource), ("outcome", outcome), ("source", source)]
        return (try? metrics.expectCounter(calls, dimensions).totalValue) ?? 0
    }

    static func timed(_ metrics: TestMetrics, _ resource: String) -> [Int64] {
        (try? metrics.expectTimer(duration, [("resource", resource)]).values) ?? []
    }

    @Test func strictCallsAreCountedPerResourceAsTheServerDecides() async throws {
        let server = try TestServer()
        let client = try await connectedClient(port: server.port, timeout: .seconds(5))
        let policy = try BreakerPolicy(failureThreshold: Fraction(2, 2), cooldown: .seconds(60))
        let metrics = TestMetrics()
        let (db, cache) = try withMetricsFactory(metrics) {
            (
                try SharedCircuitBreaker(resource: "db", policy: policy, client: client),
                try SharedCircuitBreaker(resource: "cache", policy: policy, client: client)
            )
        }
        for _ in 0..<3 { try await db.run {} }
        try await cache.run {}
        #expect(Self.count(metrics, "db", "allowed", "server") == 3)
        #expect(Self.count(metrics, "cache", "allowed", "server") == 1)
        #expect(Self.timed(metrics, "db").count == 3 && Self.timed(metrics, "cache").count == 1)
        #expect(Self.timed(metrics, "db").allSatisfy { $0 >= 0 })

        for _ in 0..<2 { _ = try? await db.run { throw ServiceDown() } }
        #expect(Self.count(metrics, "db", "allowed", "server") == 5, "calls that threw had been allowed")
        #expect(Self.timed(metrics, "db").count == 5)
        for _ in 0..<4 { await #expect(throws: CircuitOpenError.self) { try await db.run {} } }
        #expect(Self.count(metrics, "db", "rejected", "server") == 4)
        #expect(Self.timed(metrics, "db").count == 5, "rejected calls ran nothing and are not timed")
        #expect(Self.count(metrics, "cache", "rejected", "server") == 0)
        #expect(Self.count(metrics, "db", "allowed", "fallback") == 0)

        // From synchronous code too.
        try cache.runBlocking {}
        #expect(Self.count(metrics, "cache", "allowed", "server") == 2)
    }

    @Test(.timeLimit(.minutes(1)))
    func leasedCallsDecidedLocallyAreCountedAndTimedAsTheServers() async throws {
        let server = try TestServer()
        let client = try await connectedClient(port: server.port, name: "leased", timeout: .seconds(5))
        let policy = try BreakerPolicy(failureThreshold: Fraction(50, 100), cooldown: .seconds(60))
        let metrics = TestMetrics()
        let breaker = try withMetricsFactory(metrics) {
            try SharedCircuitBreaker(resource: "leased", policy: policy, client: client, consistency: .leased)
        }
        try await breaker.subscribed()
        var ran: Int64 = 0
        #expect(
            try await eventually(timeout: .seconds(10)) {
                try await breaker.run {}
                ran += 1
                return try await client.status("leased").leases == 1
            }
        )
        let before = try await client.stats()
        for _ in 0..<500 { try await breaker.run {} }
        ran += 500
        let after = try await client.stats()
        #expect(after.count(of: .acquire) - before.count(of: .acquire) < 50, "the calls were decided locally")
        #expect(Self.count(metrics, "leased", "allowed", "server") == ran)
        #expect(Int64(Self.timed(metrics, "leased").count) == ran)
    }

    @Test func callsTheFallbackDecidesAreCountedAsTheFallbacks() async throws {
        // Nothing listens on port 1: every call finds breakerd unreachable, and the fallback decides.
        var configuration = BreakerClient.Configuration(host: "127.0.0.1", port: 1, clientName: "outage")
        configuration.requestTimeout = .milliseconds(100)
        let client = BreakerClient(configuration: configuration)
        let policy = try BreakerPolicy(failureThreshold: Fraction(1, 1), cooldown: .seconds(60))
        let metrics = TestMetrics()
        let (local, allow, reject) = try withMetricsFactory(metrics) {
            (
                try SharedCircuitBreaker(resource: "local", policy: policy, client: client, fallback: .local),
                try SharedCircuitBreaker(resource: "allow", policy: policy, client: client, fallback: .allow),
                try SharedCircuitBreaker(resource: "reject", policy: policy, client: client, fallback: .reject)
            )
        }

        for _ in 0..<3 { try await allow.run {} }
        #expect(Self.count(metrics, "allow", "allowed", "fallback") == 3)
        #expect(Self.timed(metrics, "allow").count == 3)

        for _ in 0..<2 {
            await #expect(throws: CircuitOpenError.self) { try await reject.run {} }
        }
        #expect(Self.count(metrics, "reject", "rejected", "fallback") == 2)
        #expect(Self.timed(metrics, "reject").isEmpty)

        // `.local`: the in-process breaker decides; it trips on its first failure, then rejects.
        _ = try? await local.run { throw ServiceDown() }
        do {
            try await local.run {}
            Issue.record("the local fallback should have tripped")
        } catch let e as CircuitOpenError {
            #expect(e.source == .local)
        }
        #expect(Self.count(metrics, "local", "allowed", "fallback") == 1)
        #expect(Self.count(metrics, "local", "rejected", "fallback") == 1)
        #expect(Self.timed(metrics, "local").count == 1)

        for resource in ["local", "allow", "reject"] {
            for outcome in ["allowed", "rejected"] {
                #expect(Self.count(metrics, resource, outcome, "server") == 0, "the server decided nothing")
                #expect(Self.count(metrics, resource, outcome, "local") == 0, "counted once, as the fallback's")
            }
        }
        #expect(allow.fallbackCallCount == 3 && reject.fallbackCallCount == 2)
    }
}
