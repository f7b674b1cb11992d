import BreakerProtocol
import BreakerTestSupport
import Foundation
import HighwayBreaker
import Testing

/// The server goes away (SIGKILL) or stops answering (SIGSTOP): calls never hang, follow the fallback, and the
/// shared circuit decides again soon after the server is back.
@Suite(.serialized) struct OutageTests {
    static let timeout = Duration.milliseconds(100)
    /// Generous: the suite shares 2 cores with other tests (a call that waited for a reply that never comes
    /// would take the 5 s admin timeout or hang; one that fails over takes the request timeout at most, plus
    /// scheduling). Speed is measured in benchmarks, not here.
    static let slack = Duration.milliseconds(900)

    struct Breakers {
        let local: SharedCircuitBreaker
        let allow: SharedCircuitBreaker
        let reject: SharedCircuitBreaker
        let forced: SharedCircuitBreaker
        var all: [SharedCircuitBreaker] { [local, allow, reject, forced] }
    }

    func breakers(_ client: BreakerClient) throws -> Breakers {
        let policy = try BreakerPolicy(failureThreshold: Fraction(3, 3), cooldown: .seconds(30))
        return Breakers(
            local: try SharedCircuitBreaker(resource: "local", policy: policy, client: client, fallback: .local),
            allow: try SharedCircuitBreaker(resource: "allow", policy: policy, client: client, fallback: .allow),
            reject: try SharedCircuitBreaker(resource: "reject", policy: policy, client: client, fallback: .reject),
            forced: try SharedCircuitBreaker(resource: "forced", policy: policy, client: client, fallback: .allow)
        )
    }

    /// Runs one call through `breaker`; returns "ran" or "rejected:<state>" (with ":<source>" unless the server
    /// rejected it) and the time it took.
    func call(_ breaker: SharedCircuitBreaker) async -> (String, Duration) {
        let start = ContinuousClock.now
        var result = "ran"
        do {
            try await breaker.run {}
        } catch let e as CircuitOpenError {
            result = "rejected:\(e.state)" + (e.source == .server ? "" : ":\(e.source)")
        } catch {
            result = "error:\(error)"
        }
        return (result, ContinuousClock.now - start)
    }

    /// Calls every breaker during `span`, checking each call's time and result.
    func outageCalls(_ b: Breakers, for span: Duration) async -> (worst: Duration, calls: Int) {
        var worst = Duration.zero
        var calls = 0
        let end = ContinuousClock.now + span
        while ContinuousClock.now < end {
            for (breaker, expected) in [
                (b.local, "ran"), (b.allow, "ran"), (b.reject, "rejected:open:fallback"),
                (b.forced, "rejected:forced_open:fallback"),
            ] {
                let (result, took) = await call(breaker)
                worst = max(worst, took)
                calls += 1
                #expect(result == expected, "\(breaker.resource) during the outage")
                #expect(took <= Self.timeout + Self.slack, "\(breaker.resource) took \(took)")
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return (worst, calls)
    }

    @Test func serverKilledMidRunThenBack() async throws {
        let dir = NSTemporaryDirectoryPath()
        let db = dir + "/outage.sqlite"
        let server = try ServerProcess(arguments: ["--db", db])
        let port = server.port
        let client = try await connectedClient(port: port, timeout: Self.timeout)
        let b = try breakers(client)
        for breaker in b.all { #expect(await call(breaker).0 == "ran") }
        let admin = try await connectedClient(port: port, timeout: .seconds(5))
        _ = try await admin.force("forced", .open, reason: "keep it shut")
        #expect(await call(b.forced).0 == "rejected:forced_open")

        // Calls keep running in a loop while the server is killed.
        let killed = Task {
            try await Task.sleep(for: .milliseconds(100))
            server.signal(SIGKILL)
            _ = server.waitForExit()
        }
        var sawFallback = false
        let end = ContinuousClock.now + .seconds(1)
        while ContinuousClock.now < end {
            let (_, took) = await call(b.local)
            #expect(took <= Self.timeout + Self.slack, "a call during the kill took \(took)")
            if b.local.isInFallback { sawFallback = true }
        }
        try await killed.value
        #expect(sawFallback)

        let (worst, calls) = await outageCalls(b, for: .milliseconds(500))
        print("outage: \(calls) calls, worst \(worst)")
        for breaker in b.all {
            #expect(breaker.isInFallback, "\(breaker.resource)")
            #expect(breaker.outageCount == 1, "\(breaker.resource): one outage, logged once")
            #expect(breaker.fallbackCallCount > 0)
        }

        // The server comes back on the same port with the same database.
        let back = ContinuousClock.now
        let again = try ServerProcess(arguments: ["--db", db], listen: "127.0.0.1:\(port)")
        let shared = await eventually(timeout: .seconds(5)) {
            _ = await call(b.local)
            return !b.local.isInFallback
        }
        let recovery = ContinuousClock.now - back
        print("recovery after restart: \(recovery)")
        #expect(shared)
        #expect(recovery < .seconds(2) + .milliseconds(500), "including the restart itself: \(recovery)")
        #expect(await call(b.forced).0 == "rejected:forced_open", "still forced after the restart (from the database)")
        #expect(await call(b.reject).0 == "ran", "shared state is authoritative again")
        _ = again
    }

    @Test func pausedServerTimesOutIntoTheFallbackThenResumes() async throws {
        let server = try ServerProcess(arguments: [])
        let client = try await connectedClient(port: server.port, timeout: Self.timeout)
        let b = try breakers(client)
        let admin = try await connectedClient(port: server.port, timeout: .seconds(5))
        _ = try await admin.configure("forced", policy: try BreakerPolicy(failureThreshold: Fraction(1, 2)))
        _ = try await admin.force("forced", .open)
        for breaker in [b.local, b.allow, b.reject] { #expect(await call(breaker).0 == "ran") }
        #expect(await call(b.forced).0 == "rejected:forced_open")

        server.signal(SIGSTOP)
        // SIGSTOP takes effect when the process is next scheduled: a call made before that is still answered.
        #expect(await eventually { isStopped(server.process.processIdentifier) })
        let (worst, calls) = await outageCalls(b, for: .milliseconds(600))
        print("paused: \(calls) calls, worst \(worst)")
        #expect(client.isConnected, "the connection stays up; requests time out")
        server.signal(SIGCONT)
        #expect(
            await eventually(timeout: .seconds(2)) {
                _ = await call(b.allow)
                return !b.allow.isInFallback
            }
        )
        #expect(await call(b.reject).0 == "ran")
    }

    @Test func localFallbackStillTripsOnLocalFailures() async throws {
        let server = try ServerProcess(arguments: [])
        let client = try await connectedClient(port: server.port, timeout: Self.timeout)
        let policy = try BreakerPolicy(failureThreshold: Fraction(3, 3), cooldown: .seconds(30))
        let local = try SharedCircuitBreaker(resource: "l", policy: policy, client: client, fallback: .local)
        #expect(await call(local).0 == "ran")
        server.signal(SIGKILL)
        _ = server.waitForExit()
        #expect(await eventually { !client.isConnected })
        for _ in 0..<3 { _ = try? await local.run { throw ServiceDown() } }
        await #expect(throws: CircuitOpenError.self) { try await local.run {} }
        #expect(local.isInFallback && local.outageCount == 1)
    }
}

/// After a reconnect the client sends `hello` (its name) and `watch` (its subscriptions) again.
@Suite struct ReconnectTests {
    @Test func helloAndWatchAreSentAgainAfterReconnecting() async throws {
        let dir = NSTemporaryDirectoryPath()
        let db = dir + "/reconnect.sqlite"
        let server = try ServerProcess(arguments: ["--db", db])
        let port = server.port
        let client = try await connectedClient(port: port, name: "svc-7", timeout: .seconds(5))
        let log = Log()
        let watched = try SharedCircuitBreaker(
            resource: "w",
            client: client,
            onStateChange: { _, from, to in log.append("\(from)->\(to)") }
        )
        #expect(client.connectionCount == 1)

        server.signal(SIGKILL)
        _ = server.waitForExit()
        let again = try ServerProcess(arguments: ["--db", db], listen: "127.0.0.1:\(port)")
        #expect(await eventually(timeout: .seconds(3)) { client.connectionCount == 2 && client.isConnected })
        try await watched.subscribed()  // the watch was sent again and acknowledged

        let admin = try await connectedClient(port: again.port, timeout: .seconds(5))
        _ = try await admin.configure("w", policy: try BreakerPolicy(failureThreshold: Fraction(1, 1)))
        _ = try await admin.report("w", outcome: .failure)
        #expect(await eventually { log.all == ["closed->open"] }, "the watch was renewed: \(log.all)")
        let forced = try await client.force("w", .closed, reason: "after reconnect")
        #expect(forced.forced?.by == "svc-7", "hello was sent again, so actions carry the client's name")
    }
}
