import BreakerProtocol
import BreakerTestSupport
import HighwayBreaker
import Testing

/// `list` is paginated (issue #13): pages of `limit`, continued with `after`, `next` while more remain; the client
/// and breakerctl page through by themselves.
@Suite struct ListPaginationTests {
    @Test func pagesCoverEveryBreakerOnceInOrder() async throws {
        let server = try ServerProcess(arguments: [])
        let client = try await connectedClient(port: server.port, name: "pages", timeout: .seconds(5))
        let names = (0..<2_345).map { "svc-\(String($0 + 10_000))" }
        // Pipelined creation: acquire creates a breaker with the default policy.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for name in names { group.addTask { _ = try await client.acquire(name) } }
            try await group.waitForAll()
        }
        _ = try await client.acquire("other")

        var seen: [String] = []
        var after: String?
        var pages = 0
        repeat {
            let page = try await client.listPage(prefix: "svc-", after: after, limit: 1_000)
            #expect(page.breakers.count <= 1_000)
            if page.next != nil { #expect(page.breakers.count == 1_000 && page.next == page.breakers.last?.resource) }
            seen += page.breakers.map(\.resource)
            after = page.next
            pages += 1
        } while after != nil
        #expect(pages == 3)
        #expect(seen == names)
        #expect(try await client.list(prefix: "svc-").map(\.resource) == names)
        #expect(try await client.list().count == names.count + 1)

        let single = try await client.listPage(prefix: "svc-", after: names[1_999], limit: 10_000)
        #expect(single.breakers.map(\.resource) == Array(names[2_000...]) && single.next == nil)
        await #expect(throws: BreakerClientError.self) { try await client.listPage(limit: 10_001) }
    }
}
