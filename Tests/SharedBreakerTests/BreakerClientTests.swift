import BreakerProtocol
import BreakerTestSupport
import Foundation
import HighwayBreaker
import Testing

/// BreakerClient against the real `breakerd`: every operation, typed replies and errors, pipelining.
@Suite struct BreakerClientTests {
    @Test func everyOperationWithTypedReplies() async throws {
        let server = try ServerProcess(arguments: [])
        let client = try await connectedClient(port: server.port, name: "ops")
        try await client.ping()
        let hello = try await client.hello()
        #expect(hello.server == "breakerd" && hello.protocolVersion == 1 && hello.role == .admin)

        let policy = try BreakerPolicy(
            failureThreshold: Fraction(1, 2),
            successThreshold: Fraction(1, 1),
            cooldown: .zero
        )
        let created = try await client.configure("db", policy: policy)
        #expect(created.state == .closed && created.policy == policy)
        let a = try await client.acquire("db")
        #expect(a.allowed && a.state == .closed && a.permit == nil)
        _ = try await client.report("db", outcome: .success)
        let tripped = try await client.report("db", outcome: .failure, duration: .milliseconds(12))
        #expect(tripped.state == .open && tripped.counted && tripped.generation == 1)
        let probe = try await client.acquire("db")
        #expect(probe.state == .halfOpen && probe.permit != nil)
        let stale = try await client.report("db", outcome: .success, permit: Permit(generation: 0, sequence: 1))
        #expect(!stale.counted && stale.reason == .stalePermit)
        _ = try await client.report("db", outcome: .success, permit: probe.permit)
        #expect(try await client.status("db").state == .closed)
        _ = try await client.report("db", successes: 3, failures: 0)

        let forced = try await client.force("db", .open, reason: "maint", ttl: .seconds(60))
        #expect(forced.state == .forcedOpen && forced.forced?.reason == "maint" && forced.forced?.by == "ops")
        #expect(try await client.release("db").state == .closed)
        #expect(try await client.reset("db").generation == 6)
        #expect(try await client.list(prefix: "d").map(\.resource) == ["db"])
        let history = try await client.history("db", limit: 3)
        #expect(history.map(\.cause) == [.reset, .released, .forced])
        let stats = try await client.stats()
        #expect(stats.breakers.total == 1 && stats.breakers.count(in: .closed) == 1 && stats.count(of: .force) == 1)
        try await client.delete("db")
        await #expect(throws: BreakerClientError(code: .notFound, message: #"no breaker named "db""#)) {
            try await client.status("db")
        }
    }

    @Test func serverErrorsAreTyped() async throws {
        let server = try ServerProcess(arguments: [])
        let client = try await connectedClient(port: server.port)
        do {
            _ = try await client.acquire("bad name")
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .invalidResource && !error.serverUnreachable)
        }
        do {
            _ = try await client.force("ghost", .open)
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .notFound)
        }
    }

    @Test func thousandsOfConcurrentTasksShareOneConnection() async throws {
        let server = try ServerProcess(arguments: [])
        let client = try await connectedClient(port: server.port, timeout: .seconds(10))
        let failures = Counter()
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<2_000 {
                group.addTask {
                    do {
                        let r = try await client.acquire("r\(i % 50)")
                        if !r.allowed { failures.bump() }
                    } catch {
                        failures.bump()
                    }
                }
            }
        }
        #expect(failures.count == 0)
        let stats = try await client.stats()
        #expect(stats.connections == 1, "one connection for every task")
        #expect(stats.count(of: .acquire) == 2_000)
    }

    @Test func watchStreamsEventsFromOtherClients() async throws {
        let server = try ServerProcess(arguments: [])
        let watcher = try await connectedClient(port: server.port)
        let other = try await connectedClient(port: server.port, timeout: .seconds(5))
        let stream = watcher.watch(prefix: "pay")
        try await watcher.waitUntilWatching(prefix: "pay")
        _ = try await other.configure("pay", policy: try BreakerPolicy(failureThreshold: Fraction(1, 1)))
        _ = try await other.report("pay", outcome: .failure)
        _ = try await other.configure("search", policy: try BreakerPolicy(failureThreshold: Fraction(1, 1)))
        _ = try await other.report("search", outcome: .failure)
        try await other.delete("pay")
        var seen: [BreakerEvent] = []
        for await event in stream {
            seen.append(event)
            if seen.count == 2 { break }
        }
        guard seen.count == 2, case .transition(let r, let t) = seen[0] else {
            Issue.record("events: \(seen)")
            return
        }
        #expect(r == "pay" && t.to == .open && t.cause == .failureThreshold)
        #expect(seen[1] == .deleted(resource: "pay"))
    }

    @Test func requestsFailFastWhenThereIsNoServer() async throws {
        let client = BreakerClient(host: "127.0.0.1", port: 1)  // nothing listens on port 1
        let start = ContinuousClock.now
        do {
            _ = try await client.acquire("x")
            Issue.record("expected unavailable")
        } catch {
            #expect(error.code == .unavailable && error.serverUnreachable)
        }
        #expect(ContinuousClock.now - start < .seconds(1))
        client.shutdown()
    }

    @Test func aRefusedHelloSurfacesAsUnauthorized() async throws {
        let dir = NSTemporaryDirectoryPath()
        let file = dir + "/tokens"
        try "admin-token-aaaaaaaaaaaaaaaaaaaa\n".write(toFile: file, atomically: true, encoding: .utf8)
        let server = try ServerProcess(arguments: ["--admin-token-file", file])
        var config = BreakerClient.Configuration(
            host: "127.0.0.1",
            port: server.port,
            token: "wrong-token-bbbbbbbbbbbbbbbb"
        )
        config.requestTimeout = .seconds(2)
        let client = BreakerClient(configuration: config)
        await #expect(throws: BreakerClientError(code: .unauthorized, message: "the token is not valid")) {
            try await client.connect()
        }
        await #expect(throws: BreakerClientError(code: .unauthorized, message: "the token is not valid")) {
            try await client.acquire("x")
        }
        var good = config
        good.token = "admin-token-aaaaaaaaaaaaaaaaaaaa"
        let ok = BreakerClient(configuration: good)
        try await ok.connect()
        #expect(try await ok.acquire("x").allowed)
    }

    @Test func connectWaitsForTheConnectionAndItsHello() async throws {
        let server = try ServerProcess(arguments: [])
        let client = BreakerClient(host: "127.0.0.1", port: server.port, clientName: "quick-start")
        try await client.connect()
        #expect(client.isConnected)
        // The first call after connect() is answered by the server, not a fallback.
        #expect(try await client.acquire("first").allowed)
        try await client.connect()  // already up: returns at once
        #expect(try await client.force("first", .open).forced?.by == "quick-start", "hello was answered first")
    }

    @Test func connectTimesOutWithAClearErrorWhenNothingListens() async throws {
        let client = BreakerClient(host: "127.0.0.1", port: 1)  // nothing listens on port 1
        let start = ContinuousClock.now
        do {
            try await client.connect(timeout: .milliseconds(300))
            Issue.record("expected a timeout")
        } catch {
            #expect(error.code == .timeout)
            #expect(error.message.contains("could not connect to breakerd at 127.0.0.1:1 within 300ms"), "\(error)")
            #expect(error.message.contains("refused"), "names why the last attempt failed: \(error)")
        }
        // The message proves the 300 ms deadline was the one applied; the bound only catches a hang (the whole
        // suite shares 2 cores and the cooperative pool with blocking tests, so a resumption can wait seconds).
        #expect(ContinuousClock.now - start < .seconds(60), "a hang, not a deadline")
        client.shutdown()
        await #expect(throws: BreakerClientError.self) { try await client.connect() }
    }

    @Test func cancellingAWaitingTaskEndsItsWait() async throws {
        let client = BreakerClient(host: "127.0.0.1", port: 1)
        let task = Task { try await client.connect(timeout: .seconds(60)) }
        task.cancel()
        let start = ContinuousClock.now
        await #expect(throws: BreakerClientError(code: .cancelled, message: "the task was cancelled")) {
            try await task.value
        }
        // Well under the 60 s timeout, yet generous: the suite's blocking tests can hold the cooperative pool (two
        // threads here) for seconds before the cancelled task resumes.
        #expect(ContinuousClock.now - start < .seconds(55), "not the 60 s timeout")
        client.shutdown()
    }

    @Test func aShortRequestTimesOutBehindALongOne() async throws {
        // The I/O thread sleeps until the earliest deadline: a 100 ms acquire sent while a 60 s request waits
        // still times out after about 100 ms.
        let server = try ServerProcess(arguments: [])
        var config = BreakerClient.Configuration(host: "127.0.0.1", port: server.port)
        config.adminTimeout = .seconds(60)
        let client = BreakerClient(configuration: config)
        try await client.connect()
        _ = try await client.acquire("slow")
        server.signal(SIGSTOP)
        defer { server.signal(SIGCONT) }
        #expect(await eventually { isStopped(server.process.processIdentifier) })
        let long = Task { try await client.status("slow") }
        let start = ContinuousClock.now
        await #expect(throws: BreakerClientError(code: .timeout, message: "breakerd did not answer within 100 ms")) {
            _ = try await client.acquire("slow")
        }
        let took = ContinuousClock.now - start
        #expect(took >= .milliseconds(100) && took < .seconds(30), "not the long request's 60 s: \(took)")
        server.signal(SIGCONT)
        #expect(try await long.value.resource == "slow", "the long request was answered once the server resumed")
    }

    @Test func droppingTheLastReferenceClosesTheConnection() async throws {
        let server = try ServerProcess(arguments: [])
        let observer = try server.connect()
        func connections() throws -> JSONValue? { try observer.request(#"{"op":"stats"}"#)["stats"]?["connections"] }
        try await useAClientAndDropIt(port: server.port)
        // The client's I/O thread closed the socket and ended: only the observer is left.
        var left = try connections()
        let deadline = ContinuousClock.now + .seconds(10)
        while left != .integer(1) && ContinuousClock.now < deadline { left = try connections() }
        #expect(left == .integer(1))
    }

    /// A client that subscribes, watches and makes requests, then goes out of scope without `shutdown()`.
    private func useAClientAndDropIt(port: Int) async throws {
        let client = BreakerClient(host: "127.0.0.1", port: port, clientName: "dropped")
        try await client.connect()
        _ = try await client.acquire("d")
        client.subscribe(prefix: "d") { _ in }
        _ = client.watch(prefix: "d")
        try await client.waitUntilWatching(prefix: "d")
        #expect(try await client.stats().connections == 2)
    }
}

func NSTemporaryDirectoryPath() -> String {
    let path = NSTemporaryDirectory() + "client-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
