import BreakerProtocol
import BreakerServer
import BreakerTestSupport
import Foundation
import Testing

/// Issue #21: stored deadlines are wall-clock instants; a wall clock that stepped while breakerd was down must
/// not stretch a cooldown or a force TTL. The first server writes the database on a wall clock an hour off; the
/// second restores it on the true clock (an injected wall clock, real SQLite files, real sockets).
@Suite struct ClockStepTests {
    static let hourMs: Int64 = 3_600_000

    /// Writes an open breaker (cooldown 5 s) and a forced one (TTL 10 s) with the wall clock `offsetMs` off,
    /// shuts down gracefully, and restarts on the true wall clock. Returns the restarted server.
    func writeThenRestore(offsetMs: Int64, db: String) throws -> TestServer {
        do {
            let skewed = try TestServer {
                $0.databasePath = db
                $0.wallClock = { systemWallClock() + offsetMs }
            }
            let c = try skewed.connect()
            try c.request(
                #"{"op":"configure","resource":"tripped","policy":{"failure_threshold":"1/1","cooldown_ms":5000}}"#
            )
            let trip = try c.request(#"{"op":"report","resource":"tripped","outcome":"failure"}"#)
            #expect(trip["state"] == .string("open"))
            try c.request(#"{"op":"configure","resource":"forced","policy":{"failure_threshold":"1/2"}}"#)
            let forced = try c.request(#"{"op":"force","resource":"forced","state":"open","ttl_ms":10000}"#)
            #expect(forced["breaker"]?["state"] == .string("forced_open"))
        }
        return try TestServer { $0.databasePath = db }
    }

    @Test func aClockThatWasAheadCannotStretchCooldownsOrForces() throws {
        let dir = try PersistenceTests.TempDirectory()
        let server = try writeThenRestore(offsetMs: Self.hourMs, db: dir.file("ahead.sqlite"))
        let c = try server.connect()
        let tripped = try #require(try c.request(#"{"op":"status","resource":"tripped"}"#)["breaker"])
        #expect(tripped["state"] == .string("open"))
        let cooldownLeft = try #require(tripped["retry_after_ms"]?.intValue)
        #expect(cooldownLeft > 0 && cooldownLeft <= 5_000)
        let forced = try #require(try c.request(#"{"op":"status","resource":"forced"}"#)["breaker"])
        #expect(forced["state"] == .string("forced_open"))
        let ttlLeft = try #require(forced["forced"]?["remaining_ms"]?.intValue)
        #expect(ttlLeft > 0 && ttlLeft <= 10_000)

        // The clamped force still ends by itself, on the restarted server's clock.
        server.clock.advance(by: .milliseconds(10_001))
        let deadline = Date().addingTimeInterval(10)
        var state: JSONValue?
        while Date() < deadline {
            state = try c.request(#"{"op":"status","resource":"forced"}"#)["breaker"]?["state"]
            if state == .string("closed") { break }
            Thread.sleep(forTimeInterval: 0.01)
        }
        #expect(state == .string("closed"))
    }

    @Test func aClockThatWasBehindCountsTheTimeAsElapsed() throws {
        let dir = try PersistenceTests.TempDirectory()
        let server = try writeThenRestore(offsetMs: -Self.hourMs, db: dir.file("behind.sqlite"))
        let c = try server.connect()
        let tripped = try #require(try c.request(#"{"op":"status","resource":"tripped"}"#)["breaker"])
        #expect(tripped["retry_after_ms"]?.intValue == 0)
        let probe = try c.request(#"{"op":"acquire","resource":"tripped"}"#)
        #expect(probe["allowed"] == .bool(true))
        #expect(probe["state"] == .string("half_open"))
        // The force's TTL ran out while the server was down: its expiry fires without any clock advance.
        let deadline = Date().addingTimeInterval(10)
        var forced: JSONValue?
        while Date() < deadline {
            forced = try c.request(#"{"op":"status","resource":"forced"}"#)["breaker"]
            if forced?["state"] == .string("closed") { break }
            Thread.sleep(forTimeInterval: 0.01)
        }
        #expect(forced?["state"] == .string("closed"))
    }
}
