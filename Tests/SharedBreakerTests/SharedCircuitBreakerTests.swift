import BreakerProtocol
import BreakerTestSupport
import Foundation
import HighwayBreaker
import Testing

/// SharedCircuitBreaker against the real server: one circuit for every client and process.
@Suite struct SharedCircuitBreakerTests {
    static let tripAtFive = try! BreakerPolicy(
        failureThreshold: Fraction(5, 5),
        successThreshold: Fraction(3, 3),
        cooldown: .seconds(60)
    )

    @Test func failuresOfClientAOpenTheCircuitForClientB() async throws {
        let server = try ServerProcess(arguments: [])
        let a = try SharedCircuitBreaker(
            resource: "db",
            policy: Self.tripAtFive,
            client: try await connectedClient(port: server.port, name: "a")
        )
        let b = try SharedCircuitBreaker(
            resource: "db",
            policy: Self.tripAtFive,
            client: try await connectedClient(port: server.port, name: "b")
        )
        #expect(try await b.run { 1 } == 1)
        for _ in 0..<5 { _ = try? await a.run { throw ServiceDown() } }
        let calls = Counter()
        let rejected = await eventually {
            do {
                try await b.run { calls.bump() }
                return false
            } catch let e as CircuitOpenError {
                return e.resource == "db" && e.state == .open && e.retryAfter > .seconds(50) && e.source == .server
            } catch {
                return false
            }
        }
        #expect(rejected, "B is rejected without ever failing itself")
        #expect(b.lastKnownState == .open)
    }

    @Test func failuresInAnotherProcessOpenTheCircuit() async throws {
        let server = try ServerProcess(arguments: [])
        let driver = try DriverProcess([
            "fail", "--server", "127.0.0.1:\(server.port)", "--resource", "db", "--count", "7",
        ])
        let lines = try driver.readAll()
        #expect(
            lines.map { $0["result"]?.stringValue } == [
                "failed", "failed", "failed", "failed", "failed", "rejected", "rejected",
            ]
        )
        let here = try SharedCircuitBreaker(resource: "db", client: try await connectedClient(port: server.port))
        await #expect(throws: CircuitOpenError.self) { try await here.run {} }
    }

    @Test func fiftyTasksInHalfOpenRunExactlyThePermits() async throws {
        let server = try TestServer()
        let client = try await connectedClient(port: server.port, timeout: .seconds(5))
        let shared = try SharedCircuitBreaker(resource: "api", policy: Self.tripAtFive, client: client)
        for _ in 0..<5 { _ = try? await shared.run { throw ServiceDown() } }
        #expect(await eventually { (try? await client.status("api"))?.state == .open })
        server.clock.advance(by: .seconds(60))

        let ran = Counter()
        let rejected = Counter()
        let gate = Gate()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    do {
                        try await shared.run {
                            ran.bump()
                            await gate.wait()
                        }
                    } catch {
                        rejected.bump()
                    }
                }
            }
            while ran.count + rejected.count < 50 { await Task.yield() }
            await gate.open()
        }
        #expect(ran.count == 3, "halfOpenPermits = the success threshold's denominator")
        #expect(rejected.count == 47)
        #expect(await eventually { (try? await client.status("api"))?.state == .closed }, "3 probes succeeded")
    }

    @Test func aProberKilledWhileHoldingThePermitDoesNotWedgeTheCircuit() async throws {
        let server = try TestServer()
        let client = try await connectedClient(port: server.port, timeout: .seconds(5))
        let policy = try BreakerPolicy(
            failureThreshold: Fraction(1, 1),
            successThreshold: Fraction(1, 1),
            cooldown: .seconds(1),
            permitTTL: .seconds(10)
        )
        _ = try await client.configure("q", policy: policy)
        _ = try await client.report("q", outcome: .failure)
        server.clock.advance(by: .seconds(1))
        let prober = try DriverProcess(["hold-permit", "--server", "127.0.0.1:\(server.port)", "--resource", "q"])
        let held = try #require(try prober.readJSON()?["permit"]?.stringValue)
        prober.kill(SIGKILL)

        let blocked = try await client.acquire("q")
        #expect(!blocked.allowed && blocked.state == .halfOpen, "the dead prober's permit is still out")
        server.clock.advance(by: .seconds(10))  // permitTTL
        let fresh = try await client.acquire("q")
        #expect(fresh.allowed && fresh.permit != nil && fresh.permit?.description != held, "the circuit moved on")
        _ = try await client.report("q", outcome: .success, permit: fresh.permit)
        #expect(try await client.status("q").state == .closed)
    }

    @Test func onStateChangeHearsTransitionsMadeByOtherClients() async throws {
        let server = try ServerProcess(arguments: [])
        let log = Log()
        let watcherClient = try await connectedClient(port: server.port)
        let watched = try SharedCircuitBreaker(
            resource: "pay",
            client: watcherClient,
            onStateChange: { breaker, from, to in log.append("\(breaker.resource):\(from)->\(to)") }
        )
        try await watched.subscribed()
        let admin = try await connectedClient(port: server.port, timeout: .seconds(5))
        _ = try await admin.configure("pay", policy: try BreakerPolicy(failureThreshold: Fraction(1, 1)))
        _ = try await admin.report("pay", outcome: .failure)
        _ = try await admin.force("pay", .closed, reason: "test")
        _ = try await admin.configure("payroll", policy: try BreakerPolicy(failureThreshold: Fraction(1, 1)))
        _ = try await admin.report("payroll", outcome: .failure)
        // payroll's events reach the client too (the server watches the prefix "pay"); the release after them
        // shows they were delivered, and skipped.
        _ = try await admin.release("pay")
        #expect(await eventually { log.all.count >= 3 })
        #expect(log.all == ["pay:closed->open", "pay:open->forced_closed", "pay:forced_closed->closed"], "only pay")
        #expect(watched.lastKnownState == .closed)
    }

    @Test(.timeLimit(.minutes(1)))
    func onStateChangeFiresForATransitionRightAfterTheBreakerIsCreated() async throws {
        // No sleep: the watch is queued when the breaker is created, before the force, on the same connection,
        // and the server answers in order.
        let server = try ServerProcess(arguments: [])
        let client = BreakerClient(host: "127.0.0.1", port: server.port, clientName: "fresh")
        try await client.connect()
        let (changes, continuation) = AsyncStream.makeStream(of: String.self)
        let breaker = try SharedCircuitBreaker(
            resource: "fresh",
            client: client,
            onStateChange: { breaker, from, to in continuation.yield("\(breaker.resource):\(from)->\(to)") }
        )
        _ = try await client.configure("fresh", policy: try BreakerPolicy(failureThreshold: Fraction(1, 2)))
        _ = try await client.force("fresh", .open, reason: "at once")
        var first: String?
        for await change in changes {
            first = change
            break
        }
        #expect(first == "fresh:closed->forced_open")
        #expect(breaker.lastKnownState == .forcedOpen)
    }

    @Test(.timeLimit(.minutes(1)))
    func subscribedMeansTransitionsByOtherClientsReachTheHandler() async throws {
        let server = try ServerProcess(arguments: [])
        let client = try await connectedClient(port: server.port)
        let (changes, continuation) = AsyncStream.makeStream(of: BreakerState.self)
        let breaker = try SharedCircuitBreaker(
            resource: "other",
            client: client,
            onStateChange: { _, _, to in continuation.yield(to) }
        )
        try await breaker.subscribed()
        try await breaker.subscribed()  // already live: returns at once
        let admin = try await connectedClient(port: server.port, timeout: .seconds(5))
        _ = try await admin.configure("other", policy: try BreakerPolicy(failureThreshold: Fraction(1, 2)))
        _ = try await admin.force("other", .closed)
        var iterator = changes.makeAsyncIterator()
        #expect(await iterator.next() == .forcedClosed)
    }

    @Test func aFallbackRejectionSaysItCameFromTheFallback() async throws {
        var config = BreakerClient.Configuration(host: "127.0.0.1", port: 1)  // nothing listens on port 1
        config.reconnectBackoff = try Backoff(minDelay: .milliseconds(50), maxDelay: .milliseconds(700))
        let client = BreakerClient(configuration: config)
        let shared = try SharedCircuitBreaker(resource: "gone", client: client, fallback: .reject)
        await #expect {
            try await shared.run {}
        } throws: { error in
            guard let e = error as? CircuitOpenError else { return false }
            let text = "\(e)"
            return e.source == .fallback && e.state == .open && e.retryAfter == .milliseconds(700)
                && text.contains("rejected by the fallback") && text.contains("reconnect delay of 700 ms")
        }
        client.shutdown()
    }

    @Test func forcedOpenRejectsAndTheRejectionCarriesRetryAfter() async throws {
        let server = try ServerProcess(arguments: [])
        let client = try await connectedClient(port: server.port, timeout: .seconds(5))
        _ = try await client.configure("f", policy: try BreakerPolicy(failureThreshold: Fraction(1, 2)))
        _ = try await client.force("f", .open, reason: "migration", ttl: .seconds(90))
        let shared = try SharedCircuitBreaker(resource: "f", client: client)
        await #expect {
            try await shared.run {}
        } throws: { error in
            guard let e = error as? CircuitOpenError else { return false }
            return e.state == .forcedOpen && e.retryAfter > .seconds(80) && e.retryAfter <= .seconds(90)
                && e.source == .server
        }
    }

    @Test func synchronousCallersWork() async throws {
        let server = try ServerProcess(arguments: [])
        let client = try await connectedClient(port: server.port)
        let shared = try SharedCircuitBreaker(resource: "sync", policy: Self.tripAtFive, client: client)
        let result = try await Task.detached {
            let value = try shared.runBlocking { 41 + 1 }
            for _ in 0..<5 { _ = try? shared.runBlocking { throw ServiceDown() } }
            return value
        }.value
        #expect(result == 42)
        #expect(await eventually { (try? await client.status("sync"))?.state == .open })
    }

    @Test func invalidResourceNamesAreRefusedAtConstruction() async throws {
        let client = BreakerClient(host: "127.0.0.1", port: 1)
        #expect(throws: ConfigurationError.self) { _ = try SharedCircuitBreaker(resource: "no spaces", client: client) }
        client.shutdown()
    }

    @Test func strictIsTheDefault() async throws {
        let client = BreakerClient(host: "127.0.0.1", port: 1)
        defer { client.shutdown() }
        #expect(try SharedCircuitBreaker(resource: "db", client: client).consistency == .strict)
        #expect(try SharedCircuitBreaker(resource: "db", client: client, consistency: .leased).consistency == .leased)
    }
}

/// The example program runs and shows every worker's circuit opening.
@Suite struct DemoTests {
    @Test func demoShowsEveryWorkerOpening() throws {
        let r = try runToCompletion(
            ServerProcess.binary(named: "breaker-demo"),
            ["--workers", "3", "--seconds", "5"],
            timeout: 60
        )
        #expect(r.status == 0, "\(r.stderr)")
        for id in 0..<3 {
            #expect(r.stdout.contains("[worker \(id)]") && r.stdout.contains("closed -> open"), "\(r.stdout)")
        }
        let opens = r.stdout.split(separator: "\n").filter { $0.hasSuffix("closed -> open") }
        #expect(opens.count >= 3)
    }
}
