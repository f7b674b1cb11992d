import BreakerProtocol
import BreakerTestSupport
import Foundation
import Testing

/// A database written by breakerd 0.2.0 (Tests/fixtures/schema2-breakerd-0.2.0.sqlite; see its README) served
/// by this build: in process with the wall clock of the moment it was written (every figure exact), and by a
/// real `breakerd` process on today's clock.
@Suite struct UpgradeTests {
    static let fixture = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures/schema2-breakerd-0.2.0.sqlite").path

    /// When breakerd 0.2.0 wrote the fixture's last snapshot (ms since the Unix epoch).
    static let savedAtMs: Int64 = 1_795_602_702_652

    /// A directory holding a copy of the fixture, removed when released.
    final class Copy {
        let dir = NSTemporaryDirectory() + "upgrade-\(UUID().uuidString)"
        var path: String { dir + "/breakerd.sqlite" }
        init() throws {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: UpgradeTests.fixture, toPath: path)
        }
        deinit { try? FileManager.default.removeItem(atPath: dir) }
    }

    /// The policy object a reply shows for a fixture policy: the fields 0.2.0 wrote, then this revision's.
    static func policy(_ fields: String) throws -> JSONValue {
        try JSONParser.parse(
            Array(("{" + fields + #","cooldown_jitter":0.0,"mode":"enforce","min_failing_clients":1}"#).utf8)
        )
    }

    static func window(_ calls: Int64, _ failures: Int64) -> JSONValue {
        .object([
            "calls": .integer(calls), "failures": .integer(failures), "slow": .integer(0),
            "failing_clients": .integer(0),
        ])
    }

    /// What every breaker of the fixture must look like whatever the clock: state, generation, policy, count
    /// windows, the current cooldown, and the audit log.
    func checkClockIndependentParts(_ c: LineClient) throws {
        func status(_ name: String) throws -> JSONValue {
            try #require(try c.request(#"{"op":"status","resource":"\#(name)"}"#)["breaker"], "\(name)")
        }
        let list = try c.request(#"{"op":"list"}"#)["breakers"]?.arrayValue ?? []
        #expect(list.map { $0["resource"]?.stringValue } == ["count-closed", "count-open", "forced", "time-closed"])

        let open = try status("count-open")
        #expect(open["state"] == .string("open") && open["generation"] == .integer(1))
        #expect(
            open["policy"]
                == (try Self.policy(
                    #""failure_threshold":"2/4","success_threshold":"2/2","cooldown_ms":600000,"#
                        + #""window":{"type":"count","size":4},"minimum_calls":4,"half_open_permits":2,"#
                        + #""permit_ttl_ms":10000"#
                ))
        )
        #expect(open["window"] == Self.window(4, 4) && open["cooldown_ms_current"] == .integer(600_000))
        #expect(open["changed_at_ms"] == .integer(1_795_602_701_620))

        let closed = try status("count-closed")
        #expect(closed["state"] == .string("closed") && closed["generation"] == .integer(0))
        #expect(
            closed["policy"]
                == (try Self.policy(
                    #""failure_threshold":"3/5","success_threshold":null,"cooldown_ms":30000,"#
                        + #""window":{"type":"count","size":5},"minimum_calls":5,"half_open_permits":2,"#
                        + #""permit_ttl_ms":5000"#
                ))
        )
        #expect(closed["window"] == Self.window(3, 1))

        let time = try status("time-closed")
        #expect(time["state"] == .string("closed"))
        #expect(
            time["policy"]
                == (try Self.policy(
                    #""failure_threshold":"5/10","success_threshold":null,"cooldown_ms":45000,"#
                        + #""window":{"type":"time","ms":600000,"buckets":60},"minimum_calls":3,"#
                        + #""half_open_permits":10,"permit_ttl_ms":10000"#
                ))
        )

        let forced = try status("forced")
        #expect(
            forced["policy"]
                == (try Self.policy(
                    #""failure_threshold":"3/5","success_threshold":null,"cooldown_ms":30000,"#
                        + #""window":{"type":"count","size":5},"minimum_calls":5,"half_open_permits":5,"#
                        + #""permit_ttl_ms":10000"#
                ))
        )

        let tripped = try c.request(#"{"op":"history","resource":"count-open"}"#)["transitions"]?.arrayValue ?? []
        #expect(
            tripped.map(\.jsonText) == [
                #"{"at_ms":1795602701620,"cause":"failure_threshold","from":"closed","generation":1,"to":"open"}"#
            ]
        )
        let forcedLog = try c.request(#"{"op":"history","resource":"forced"}"#)["transitions"]?.arrayValue ?? []
        #expect(
            forcedLog.map(\.jsonText) == [
                #"{"at_ms":1795602701621,"by":"admin","cause":"forced","from":"closed","generation":1,"#
                    + #""reason":"fixture: provider outage","to":"forced_open"}"#
            ]
        )
        #expect(try c.request(#"{"op":"history","resource":"count-closed"}"#)["transitions"] == .array([]))
    }

    @Test func aServerRestoresTheLastReleasesDatabaseExactly() throws {
        let copy = try Copy()
        let now = Self.savedAtMs + 1_000
        let s = try TestServer {
            $0.databasePath = copy.path
            $0.wallClock = { now }
        }
        let c = try s.connect()
        try checkClockIndependentParts(c)
        let open = try #require(try c.request(#"{"op":"status","resource":"count-open"}"#)["breaker"])
        #expect(open["retry_after_ms"] == .integer(1_795_603_301_621 - now), "the rest of its cooldown")
        let time = try #require(try c.request(#"{"op":"status","resource":"time-closed"}"#)["breaker"])
        #expect(time["window"] == Self.window(9, 2), "a second later, the 10-minute window holds it all")
        let forced = try #require(try c.request(#"{"op":"status","resource":"forced"}"#)["breaker"])
        #expect(
            forced["forced"]
                == .object([
                    "state": .string("open"), "reason": .string("fixture: provider outage"), "by": .string("admin"),
                    "remaining_ms": .integer(1_798_194_701_621 - now),
                ])
        )
        // The upgraded breakers take the new fields.
        let configured = try c.request(
            #"{"op":"configure","resource":"count-closed","policy":{"failure_threshold":"3/5","mode":"shadow","#
                + #""slow_call_ms":100,"slow_call_threshold":"1/5"}}"#
        )
        #expect(configured["breaker"]?["policy"]?["mode"] == .string("shadow"))
    }

    @Test func aRealBreakerdOpensTheLastReleasesDatabase() throws {
        let copy = try Copy()
        do {
            let server = try ServerProcess(arguments: ["--db", copy.path])
            let c = try server.connect()
            try checkClockIndependentParts(c)
            // What depends on today's clock: the force lasts until its stored end, the time window for 10 minutes.
            let wall = Int64(Date().timeIntervalSince1970 * 1_000)
            let forced = try #require(try c.request(#"{"op":"status","resource":"forced"}"#)["breaker"])
            if wall < 1_798_194_701_621 - 60_000 {
                #expect(forced["state"] == .string("forced_open"))
                #expect(forced["forced"]?["reason"] == .string("fixture: provider outage"))
                #expect(forced["forced"]?["by"] == .string("admin"))
            }
            let time = try #require(try c.request(#"{"op":"status","resource":"time-closed"}"#)["breaker"])
            let calls = time["window"]?["calls"]?.intValue
            #expect(calls == 9 || (calls == 0 && wall > Self.savedAtMs + 590_000), "\(time.jsonText)")
            server.signal(SIGTERM)
            #expect(server.waitForExit() == 0)
        }
        let version = try runToCompletion("/usr/bin/sqlite3", [copy.path, "PRAGMA user_version;"])
        #expect(version.stdout == "3\n")
        let columns = try runToCompletion(
            "/usr/bin/sqlite3",
            [copy.path, "SELECT count(*) FROM pragma_table_info('breakers') WHERE name = 'cooldown_current_ms';"]
        )
        #expect(columns.stdout == "1\n")
        // And it opens again, as written by this build.
        let again = try ServerProcess(arguments: ["--db", copy.path])
        try checkClockIndependentParts(try again.connect())
    }
}
