import BreakerProtocol
import BreakerTestSupport
import Foundation
import HighwayBreaker
import Synchronization
import Testing

/// Client behaviours found in review of the redesign: a blocking call from an event handler, concurrent first
/// calls carrying a policy, and a server that stops reading.
@Suite struct ClientReviewTests {
    @Test(.timeLimit(.minutes(1)))
    func aBlockingCallFromAnEventHandlerFailsInsteadOfWaitingForItself() async throws {
        let server = try ServerProcess(arguments: [])
        let client = try await connectedClient(port: server.port, name: "handler", timeout: .seconds(5))
        let (codes, continuation) = AsyncStream.makeStream(of: String.self)
        _ = try await client.subscribe(prefix: "h", acknowledgedWithin: .seconds(5)) { _ in
            do {
                _ = try client.acquireBlocking("h")
                continuation.yield("answered")
            } catch {
                continuation.yield((error as? BreakerClientError)?.code.rawValue ?? "\(error)")
            }
        }
        _ = try await client.configure("h", policy: try BreakerPolicy(failureThreshold: Fraction(1, 2)))
        _ = try await client.force("h", .open)
        var iterator = codes.makeAsyncIterator()
        #expect(await iterator.next() == "wrong_thread")
        #expect(try await client.acquire("h").state == .forcedOpen, "the client still works")
    }

    @Test func concurrentFirstCallsCreateTheBreakerWithItsPolicy() async throws {
        let server = try ServerProcess(arguments: [])
        let client = try await connectedClient(port: server.port, name: "first", timeout: .seconds(5))
        let policy = try BreakerPolicy(failureThreshold: Fraction(3, 7), cooldown: .seconds(7))
        for round in 0..<20 {
            let breaker = try SharedCircuitBreaker(resource: "first-\(round)", policy: policy, client: client)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 { group.addTask { try await breaker.run {} } }
                try await group.waitForAll()
            }
            #expect(try await client.status("first-\(round)").policy == policy, "round \(round)")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aServerThatStopsReadingCannotGrowTheClientsBufferWithoutABound() async throws {
        let server = try ServerProcess(arguments: [])
        let client = try await connectedClient(port: server.port, name: "stalled", timeout: .seconds(5))
        server.signal(SIGSTOP)
        defer { server.signal(SIGCONT) }
        var refused: BreakerClientError?
        for _ in 0..<1_000_000 {
            do {
                try client.reportWithoutReply("stalled", outcome: .success)
            } catch {
                refused = error
                break
            }
        }
        #expect(refused?.code == .unavailable)
        #expect(refused?.message.contains("not reading") == true, "\(String(describing: refused))")
    }
}
