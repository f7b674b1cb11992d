import BreakerProtocol
import BreakerTestSupport
import Foundation
import Testing

/// Snapshot persistence with real SQLite files and real `breakerd` processes killed with SIGKILL.
@Suite struct PersistenceTests {
    /// A fresh directory for one test's database files.
    final class TempDirectory {
        let path: String
        init() throws {
            path = NSTemporaryDirectory() + "breakerd-db-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
        func file(_ name: String) -> String { path + "/" + name }
    }

    func start(_ db: String, _ extra: [String] = []) throws -> ServerProcess {
        try ServerProcess(arguments: ["--db", db] + extra)
    }

    func kill9(_ server: ServerProcess) {
        server.signal(SIGKILL)
        _ = server.waitForExit(timeout: 10)
    }

    @Test func acknowledgedChangesSurviveKillNine50Times() throws {
        let dir = try TempDirectory()
        let db = dir.file("breakers.sqlite")
        for round in 1...50 {
            let server = try start(db)
            let c = try server.connect()
            // Each reply below is sent only after its change was committed; SIGKILL follows the last one.
            let forced = try c.request(
                #"{"op":"force","resource":"forced","state":"open","reason":"round \#(round)","ttl_ms":600000}"#
            )
            if round == 1 {
                #expect(forced.errorCode == "not_found")
                try c.request(#"{"op":"configure","resource":"forced","policy":{"failure_threshold":"1/2"}}"#)
                try c.request(#"{"op":"force","resource":"forced","state":"open","reason":"round 1","ttl_ms":600000}"#)
            }
            try c.request(
                #"{"op":"configure","resource":"configured","policy":{"failure_threshold":"\#(round % 9 + 1)/10","cooldown_ms":\#(round * 1000)}}"#
            )
            try c.request(
                #"{"op":"configure","resource":"tripped","policy":{"failure_threshold":"1/1","cooldown_ms":600000}}"#
            )
            let trip = try c.request(#"{"op":"report","resource":"tripped","outcome":"failure"}"#)
            #expect(trip["state"] == .string("open"))
            if round == 1 {
                try c.request(
                    #"{"op":"configure","resource":"reset-me","policy":{"failure_threshold":"1/1","cooldown_ms":600000}}"#
                )
            }
            // Trip it (a transition), then reset it: the reset is the last reply before SIGKILL.
            try c.request(#"{"op":"report","resource":"reset-me","outcome":"failure"}"#)
            let lastReply = try c.request(#"{"op":"reset","resource":"reset-me"}"#)
            #expect(lastReply["breaker"]?["state"] == .string("closed"))
            let resetGeneration = lastReply["breaker"]?["generation"]
            kill9(server)

            let again = try start(db)
            let r = try again.connect()
            let f = try #require(try r.request(#"{"op":"status","resource":"forced"}"#)["breaker"], "round \(round)")
            #expect(f["state"] == .string("forced_open"), "round \(round)")
            #expect(f["forced"]?["reason"] == .string("round \(round)"), "round \(round)")
            let remaining = f["forced"]?["remaining_ms"]?.intValue ?? 0
            #expect(remaining > 540_000 && remaining <= 600_000, "round \(round): remaining TTL \(remaining)")
            let cfg = try r.request(#"{"op":"status","resource":"configured"}"#)["breaker"]?["policy"]
            #expect(
                cfg?["failure_threshold"] == .string("\(round % 9 + 1)/10")
                    && cfg?["cooldown_ms"] == .integer(Int64(round * 1000))
            )
            let t = try r.request(#"{"op":"status","resource":"tripped"}"#)["breaker"]
            #expect(t?["state"] == .string("open"), "round \(round)")
            let cooldownLeft = t?["retry_after_ms"]?.intValue ?? 0
            #expect(cooldownLeft > 540_000 && cooldownLeft <= 600_000, "round \(round): cooldown left \(cooldownLeft)")
            let last = try r.request(#"{"op":"status","resource":"reset-me"}"#)["breaker"]
            #expect(last?["state"] == .string("closed") && last?["generation"] == resetGeneration, "round \(round)")
            #expect(resetGeneration == .integer(Int64(2 * round)), "two transitions a round: trip and reset")
            kill9(again)
        }
    }

    @Test func resetAndDeleteSurviveAndHistoryComesBack() throws {
        let dir = try TempDirectory()
        let db = dir.file("b.sqlite")
        let s1 = try start(db)
        let c = try s1.connect()
        try c.request(#"{"op":"configure","resource":"a","policy":{"failure_threshold":"1/1"}}"#)
        try c.request(#"{"op":"report","resource":"a","outcome":"failure"}"#)
        let reset = try c.request(#"{"op":"reset","resource":"a"}"#)
        #expect(reset["breaker"]?["state"] == .string("closed") && reset["breaker"]?["generation"] == .integer(2))
        try c.request(#"{"op":"configure","resource":"gone","policy":{"failure_threshold":"1/1"}}"#)
        #expect(try c.request(#"{"op":"delete","resource":"gone"}"#).isOK)
        kill9(s1)

        let s2 = try start(db)
        let r = try s2.connect()
        let a = try r.request(#"{"op":"status","resource":"a"}"#)["breaker"]
        #expect(a?["state"] == .string("closed") && a?["generation"] == .integer(2))
        let h = try r.request(#"{"op":"history","resource":"a"}"#)["transitions"]?.arrayValue ?? []
        #expect(h.map { $0["cause"]?.stringValue } == ["reset", "failure_threshold"])
        #expect(try r.request(#"{"op":"status","resource":"gone"}"#).errorCode == "not_found")
    }

    @Test func halfOpenRestartsWithFreshPermits() throws {
        let dir = try TempDirectory()
        let db = dir.file("h.sqlite")
        let s1 = try start(db)
        let c = try s1.connect()
        try c.request(
            #"{"op":"configure","resource":"p","policy":{"failure_threshold":"1/1","success_threshold":"1/1","cooldown_ms":0}}"#
        )
        try c.request(#"{"op":"report","resource":"p","outcome":"failure"}"#)
        let probe = try c.request(#"{"op":"acquire","resource":"p"}"#)  // open → half_open: durable
        let oldPermit = try #require(probe["permit"]?.stringValue)
        #expect(try c.request(#"{"op":"acquire","resource":"p"}"#)["allowed"] == .bool(false), "the only permit is out")
        kill9(s1)

        let s2 = try start(db)
        let r = try s2.connect()
        let fresh = try r.request(#"{"op":"acquire","resource":"p"}"#)
        #expect(
            fresh["state"] == .string("half_open") && fresh["allowed"] == .bool(true),
            "a restarted half-open breaker grants fresh permits"
        )
        #expect(fresh["permit"]?.stringValue != oldPermit)
        let late = try r.request(#"{"op":"report","resource":"p","outcome":"success","permit":"\#(oldPermit)"}"#)
        #expect(late["counted"] == .bool(false), "a permit from before the restart never counts")
    }

    @Test func windowsComeBackAsOfTheLastSnapshot() throws {
        let dir = try TempDirectory()
        let db = dir.file("w.sqlite")
        let s1 = try start(db)
        let c = try s1.connect()
        try c.request(
            #"{"op":"report","resource":"w","successes":7,"failures":2,"policy":{"failure_threshold":"5/10"}}"#
        )
        s1.signal(SIGTERM)  // graceful: a final snapshot
        #expect(s1.waitForExit() == 0)
        let s2 = try start(db)
        let w = try s2.connect().request(#"{"op":"status","resource":"w"}"#)["breaker"]
        #expect(
            w?["window"]
                == .object([
                    "calls": .integer(9), "failures": .integer(2), "slow": .integer(0), "failing_clients": .integer(0),
                ])
        )
        #expect(w?["policy"]?["failure_threshold"] == .string("5/10"))
    }

    @Test func periodicSnapshotsKeepWindowsWithoutAShutdown() throws {
        let dir = try TempDirectory()
        let db = dir.file("p.sqlite")
        let s1 = try start(db, ["--snapshot-interval", "50ms"])
        let c = try s1.connect()
        let before = try c.request(#"{"op":"stats"}"#)["stats"]?["snapshot"]?["count"]?.intValue ?? 0
        try c.request(#"{"op":"report","resource":"w","successes":3,"failures":1}"#)
        // Wait (bounded) until two more snapshots ran: the second surely began after the report.
        var snapshotted = false
        for _ in 0..<500 where !snapshotted {
            let count = try c.request(#"{"op":"stats"}"#)["stats"]?["snapshot"]?["count"]?.intValue ?? 0
            if count >= before + 2 { snapshotted = true } else { usleep(20_000) }
        }
        #expect(snapshotted)
        kill9(s1)
        let s2 = try start(db)
        let w = try s2.connect().request(#"{"op":"status","resource":"w"}"#)["breaker"]
        #expect(
            w?["window"]
                == .object([
                    "calls": .integer(4), "failures": .integer(1), "slow": .integer(0), "failing_clients": .integer(0),
                ])
        )
    }

    @Test func aSecondWriterIsRefused() throws {
        let dir = try TempDirectory()
        let db = dir.file("one.sqlite")
        let first = try start(db)
        let r = try runToCompletion(ServerProcess.binaryPath, ["--listen", "127.0.0.1:0", "--db", db])
        #expect(r.status != 0)
        #expect(r.stderr.contains(db) && r.stderr.contains("in use"), "\(r.stderr)")
        #expect(try first.connect().request(#"{"op":"ping"}"#).isOK, "the first keeps serving")
    }

    @Test func badFilesAreRefusedAndLeftUntouched() throws {
        let dir = try TempDirectory()
        func refuse(_ path: String, mentioning words: [String]) throws {
            let before = FileManager.default.contents(atPath: path)
            let r = try runToCompletion(
                ServerProcess.binaryPath,
                ["--listen", "127.0.0.1:0", "--db", path],
                timeout: 10
            )
            #expect(r.status != 0, "\(path)")
            #expect(r.stderr.contains(path), "the message names the file: \(r.stderr)")
            for w in words { #expect(r.stderr.contains(w), "\(w) in \(r.stderr)") }
            #expect(FileManager.default.contents(atPath: path) == before, "never overwritten")
        }

        // Not a SQLite database.
        let text = dir.file("notes.txt")
        try "these are my notes, not a database\n".write(toFile: text, atomically: true, encoding: .utf8)
        try refuse(text, mentioning: ["not a SQLite database"])

        // A newer schema version than this breakerd knows.
        let newer = dir.file("newer.sqlite")
        let s = try start(newer)
        try s.connect().request(#"{"op":"configure","resource":"x","policy":{"failure_threshold":"1/2"}}"#)
        s.signal(SIGTERM)
        _ = s.waitForExit()
        let bump = try runToCompletion("/usr/bin/sqlite3", [newer, "PRAGMA user_version = 99;"])
        #expect(bump.status == 0, "\(bump.stderr)")
        try refuse(newer, mentioning: ["schema version 99", "newer"])

        // Corrupt: a valid database with its pages overwritten.
        let corrupt = dir.file("corrupt.sqlite")
        let s2 = try start(corrupt)
        let c2 = try s2.connect()
        for i in 0..<300 {
            try c2.request(#"{"op":"configure","resource":"r\#(i)","policy":{"failure_threshold":"1/2"}}"#)
        }
        s2.signal(SIGTERM)
        _ = s2.waitForExit()
        var bytes = try #require(FileManager.default.contents(atPath: corrupt))
        #expect(bytes.count > 8_192)
        for i in 4_096..<bytes.count where i % 7 != 0 { bytes[i] = UInt8(truncatingIfNeeded: i &* 31) }
        try bytes.write(to: URL(fileURLWithPath: corrupt))
        try refuse(corrupt, mentioning: ["corrupt"])

        // Unreadable: a directory where the file should be (permission bits do not stop root, who runs CI).
        let directory = dir.file("adir")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try refuse(directory, mentioning: ["directory"])
        if getuid() != 0 {
            let locked = dir.file("locked.sqlite")
            let s3 = try start(locked)
            s3.signal(SIGTERM)
            _ = s3.waitForExit()
            chmod(locked, 0)
            try refuse(locked, mentioning: ["cannot"])
        }
    }

    @Test func memoryKeepsNothing() throws {
        let s1 = try ServerProcess(arguments: ["--db", ":memory:"])
        try s1.connect().request(#"{"op":"configure","resource":"m","policy":{"failure_threshold":"1/2"}}"#)
        kill9(s1)
        let s2 = try ServerProcess(arguments: ["--db", ":memory:"])
        #expect(try s2.connect().request(#"{"op":"status","resource":"m"}"#).errorCode == "not_found")
    }

    @Test func defaultDatabaseIsInTheWorkingDirectory() throws {
        let r = try runToCompletion(ServerProcess.binaryPath, ["--help"])
        #expect(r.stdout.contains("--db") && r.stdout.contains("breakerd.sqlite"))
        #expect(r.stdout.contains("--snapshot-interval"))
    }
}
