import BreakerProtocol
import BreakerTestSupport
import Foundation
import Testing

/// Memory holds a breaker's newest transitions only; `history` reads older ones from the database, which keeps
/// 1,000 per breaker (issue #13 row 13).
@Suite struct HistoryOnDiskTests {
    @Test func historyReachesPastWhatMemoryHoldsAndSurvivesARestart() throws {
        let dir = try PersistenceTests.TempDirectory()
        let db = dir.file("history.sqlite")
        var server: ServerProcess? = try ServerProcess(arguments: ["--db", db])
        let c = try server!.connect()
        try c.request(#"{"op":"configure","resource":"flappy","policy":{"failure_threshold":"1/2"}}"#)
        // 60 transitions (generations 1...60), each acknowledged after its commit.
        for i in 0..<30 {
            try c.request(#"{"op":"force","resource":"flappy","state":"open","reason":"r\#(i)"}"#)
            try c.request(#"{"op":"release","resource":"flappy"}"#)
        }
        func generations(_ client: LineClient, limit: Int) throws -> [Int] {
            let reply = try client.request(#"{"op":"history","resource":"flappy","limit":\#(limit)}"#)
            guard case .array(let items)? = reply["transitions"] else { return [] }
            return items.compactMap { $0["generation"]?.intValue }
        }
        #expect(try generations(c, limit: 5) == [60, 59, 58, 57, 56])
        #expect(try generations(c, limit: 50) == Array((11...60).reversed()), "memory's newest, then the disk's")
        #expect(try generations(c, limit: 1_000) == Array((1...60).reversed()))
        let oldest = try c.request(#"{"op":"history","resource":"flappy","limit":60}"#)["transitions"]
        if case .array(let items)? = oldest {
            #expect(items.last?["reason"] == .string("r0"), "older records keep their reason")
        }
        server?.signal(SIGTERM)
        _ = server?.waitForExit(timeout: 10)
        server = nil

        let again = try ServerProcess(arguments: ["--db", db])
        let r = try again.connect()
        #expect(try generations(r, limit: 1_000) == Array((1...60).reversed()))
    }
}
