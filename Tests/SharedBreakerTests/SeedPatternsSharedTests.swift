import BreakerTestSupport
import HighwayBreaker
import Synchronization
import Testing

/// The seeds' patterns with the shared breaker in place of the in-process one.
@Suite struct SeedPatternsSharedTests {
    final class RecordingSleeper: Sleeper {
        private let recorded = Mutex<[Duration]>([])
        var delays: [Duration] { recorded.withLock { $0 } }
        func sleep(for duration: Duration) async throws { recorded.withLock { $0.append(duration) } }
        func sleepBlocking(for duration: Duration) { recorded.withLock { $0.append(duration) } }
    }

    @Test func retryAroundTheSharedBreakerInFailsafe() async throws {
        let server = try ServerProcess(arguments: [])
        let client = try await connectedClient(port: server.port)
        let policy = try BreakerPolicy(failureThreshold: Fraction(3, 10), cooldown: .seconds(60))
        let shared = try SharedCircuitBreaker(
            resource: "external-api",
            policy: policy,
            client: client,
            handle: { $0 is ServiceDown }
        )
        let sleeper = RecordingSleeper()
        let retry = try RetryPolicy(
            maxRetries: 2,
            backoff: try Backoff(minDelay: .seconds(1), maxDelay: .seconds(5), factor: 2),
            handle: { $0 is ServiceDown },
            sleeper: sleeper
        )
        let api = try Failsafe(policies: [retry, shared])
        for _ in 0..<7 { _ = try await api.run { "data" } }
        let attempts = Counter()
        await #expect(throws: RetriesExhaustedError.self) {
            try await api.run {
                attempts.bump()
                throw ServiceDown()
            }
        }
        #expect(attempts.count == 3)
        #expect(sleeper.delays == [.seconds(1), .seconds(2)])
        #expect(await eventually { (try? await client.status("external-api"))?.state == .open })
        await #expect(throws: CircuitOpenError.self) { try await api.run { attempts.bump() } }
        #expect(attempts.count == 3, "rejected by the shared circuit without running")
        #expect(sleeper.delays == [.seconds(1), .seconds(2)], "the rejection was not retried")
    }

    @Test func handlePredicatesDecideWhatCounts() async throws {
        let server = try ServerProcess(arguments: [])
        let client = try await connectedClient(port: server.port)
        let shared = try SharedCircuitBreaker(
            resource: "db",
            policy: try BreakerPolicy(failureThreshold: Fraction(1, 5)),
            client: client,
            handle: { $0 is ServiceDown }
        )
        for _ in 0..<10 { await #expect(throws: NotOurProblem.self) { try await shared.run { throw NotOurProblem() } } }
        // The outcomes went with noreply; status is answered after them (one connection, in order).
        let status = try await client.status("db")
        #expect(
            status.state == .closed && status.windowFailures == 0 && status.windowCalls == 5,
            "unhandled errors count as successes"
        )
        await #expect(throws: ServiceDown.self) { try await shared.run { throw ServiceDown() } }
        #expect(await eventually { (try? await client.status("db"))?.state == .open })
    }

    @Test func stateChangeMonitoringAcrossProcesses() async throws {
        let server = try ServerProcess(arguments: [])
        let alerts = Log()
        let monitor = try SharedCircuitBreaker(
            resource: "payments",
            client: try await connectedClient(port: server.port),
            onStateChange: { _, old, new in
                alerts.append("\(old)->\(new)")
                if new == .open { alerts.append("ALERT: payments opened") }
            }
        )
        try await monitor.subscribed()
        // Another process makes the failures.
        let driver = try DriverProcess([
            "fail", "--server", "127.0.0.1:\(server.port)", "--resource", "payments", "--count", "5",
        ])
        _ = try driver.readAll()
        #expect(await eventually { alerts.all.contains("ALERT: payments opened") })
        #expect(alerts.all.first == "closed->open")
    }
}
