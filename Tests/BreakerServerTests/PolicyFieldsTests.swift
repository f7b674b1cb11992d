import BreakerCore
import BreakerProtocol
import BreakerTestSupport
import Foundation
import Testing

@testable import BreakerServer

/// Issue #16 over TCP, against a live in-process server on a manual clock: each new policy field at its edges,
/// and every one of them across a restart on a real SQLite file.
@Suite struct PolicyFieldsTests {
    /// Configures `resource` with `policy` (JSON) and expects success.
    func configure(_ c: LineClient, _ resource: String, _ policy: String) throws {
        let reply = try c.request(#"{"op":"configure","resource":"\#(resource)","policy":\#(policy)}"#)
        #expect(reply.isOK, "\(reply.jsonText)")
    }

    func status(_ c: LineClient, _ resource: String) throws -> JSONValue {
        try #require(try c.request(#"{"op":"status","resource":"\#(resource)"}"#)["breaker"])
    }

    func state(_ c: LineClient, _ resource: String) throws -> String? {
        try status(c, resource)["state"]?.stringValue
    }

    /// The newest transition's cause.
    func lastCause(_ c: LineClient, _ resource: String) throws -> String? {
        try c.request(#"{"op":"history","resource":"\#(resource)","limit":1}"#)["transitions"]?.arrayValue?.first?[
            "cause"
        ]?.stringValue
    }

    @discardableResult
    func report(_ c: LineClient, _ resource: String, _ outcome: String, durationMs: Int? = nil) throws -> JSONValue {
        let duration = durationMs.map { #","duration_ms":\#($0)"# } ?? ""
        return try c.request(#"{"op":"report","resource":"\#(resource)","outcome":"\#(outcome)"\#(duration)}"#)
    }

    // MARK: Slow calls

    @Test func theSlowCallRuleTripsAtKOfNAndNotBelow() throws {
        let s = try TestServer()
        let c = try s.connect()
        try configure(c, "db", #"{"failure_threshold":"4/4","slow_call_ms":100,"slow_call_threshold":"2/4"}"#)
        // duration_ms at the edge (100) is slow; 99 is not; a report without one is not.
        try report(c, "db", "success", durationMs: 100)
        try report(c, "db", "success", durationMs: 99)
        try report(c, "db", "success")
        try report(c, "db", "failure", durationMs: 99)
        var b = try status(c, "db")
        #expect(b["state"] == .string("closed"))
        #expect(b["window"]?["slow"] == .integer(1) && b["window"]?["calls"] == .integer(4))
        // The slow one leaves the window as a slow success enters: still 1 of 4.
        #expect(try report(c, "db", "success", durationMs: 5_000)["state"] == .string("closed"), "1/4 < 2/4")
        // 2 of the last 4: trips, with its own cause.
        #expect(try report(c, "db", "failure", durationMs: 150)["state"] == .string("open"), "2/4")
        #expect(try lastCause(c, "db") == "slow_call_threshold")
        b = try status(c, "db")
        #expect(b["policy"]?["slow_call_ms"] == .integer(100) && b["policy"]?["slow_call_threshold"] == .string("2/4"))

        // Counts: the last `slow` of the batch are slow; the rule is checked once per batch.
        try configure(c, "batch", #"{"failure_threshold":"4/4","slow_call_ms":100,"slow_call_threshold":"2/4"}"#)
        let below = try c.request(#"{"op":"report","resource":"batch","successes":4,"slow":1}"#)
        #expect(below["state"] == .string("closed") && below["counted"] == .bool(true))
        let at = try c.request(#"{"op":"report","resource":"batch","successes":1,"failures":0,"slow":1}"#)
        #expect(at["state"] == .string("open"))
        #expect(try lastCause(c, "batch") == "slow_call_threshold")

        // Without a slow-call rule, durations and slow counts change nothing.
        try configure(c, "plain", #"{"failure_threshold":"2/2"}"#)
        try report(c, "plain", "success", durationMs: 1_000_000)
        #expect(
            try c.request(#"{"op":"report","resource":"plain","successes":1,"slow":1}"#)["state"] == .string("closed")
        )
        #expect(try status(c, "plain")["window"]?["slow"] == .integer(0))
        #expect(
            try c.request(#"{"op":"report","resource":"plain","successes":1,"slow":2}"#).errorCode == "bad_request"
        )
    }

    @Test func aSlowProbeIsAFailedOne() throws {
        let s = try TestServer()
        let c = try s.connect()
        try configure(
            c,
            "db",
            #"{"failure_threshold":"1/1","cooldown_ms":1000,"slow_call_ms":100,"slow_call_threshold":"1/1"}"#
        )
        #expect(try report(c, "db", "success", durationMs: 100)["state"] == .string("open"))
        s.clock.advance(by: .seconds(1))
        let permit = try #require(try c.request(#"{"op":"acquire","resource":"db"}"#)["permit"]?.stringValue)
        let probe = try c.request(
            #"{"op":"report","resource":"db","outcome":"success","permit":"\#(permit)","duration_ms":250}"#
        )
        #expect(probe["state"] == .string("open"))
        #expect(try lastCause(c, "db") == "probes_failed")
    }

    // MARK: Growing cooldowns and jitter

    /// Trips `resource` again from half-open: waits out `cooldownMs`, takes the probe permit, reports `outcome`.
    func probe(
        _ s: TestServer,
        _ c: LineClient,
        _ resource: String,
        afterMs cooldownMs: Int64,
        _ outcome: String
    )
        throws -> JSONValue
    {
        s.clock.advance(by: .milliseconds(cooldownMs - 1))
        let early = try c.request(#"{"op":"acquire","resource":"\#(resource)"}"#)
        #expect(early["allowed"] == .bool(false) && early["retry_after_ms"] == .integer(1), "\(early.jsonText)")
        s.clock.advance(by: .milliseconds(1))
        let granted = try c.request(#"{"op":"acquire","resource":"\#(resource)"}"#)
        let permit = try #require(granted["permit"]?.stringValue, "\(granted.jsonText)")
        return try c.request(
            #"{"op":"report","resource":"\#(resource)","outcome":"\#(outcome)","permit":"\#(permit)"}"#
        )
    }

    @Test func theCooldownGrowsOneTwoFourTimesCappedAndIsBackAfterClose() throws {
        let s = try TestServer()
        let c = try s.connect()
        try configure(
            c,
            "db",
            #"{"failure_threshold":"1/1","cooldown_ms":1000,"cooldown_max_ms":3000,"half_open_permits":1}"#
        )
        #expect(try status(c, "db")["cooldown_ms_current"] == .integer(1_000))
        #expect(try status(c, "db")["policy"]?["cooldown_multiplier"] == .number(2.0), "the default")
        #expect(try report(c, "db", "failure")["state"] == .string("open"))
        var b = try status(c, "db")
        #expect(b["cooldown_ms_current"] == .integer(1_000) && b["retry_after_ms"] == .integer(1_000), "1×")

        #expect(try probe(s, c, "db", afterMs: 1_000, "failure")["state"] == .string("open"))
        b = try status(c, "db")
        #expect(b["cooldown_ms_current"] == .integer(2_000) && b["retry_after_ms"] == .integer(2_000), "2×")

        #expect(try probe(s, c, "db", afterMs: 2_000, "failure")["state"] == .string("open"))
        b = try status(c, "db")
        #expect(b["cooldown_ms_current"] == .integer(3_000) && b["retry_after_ms"] == .integer(3_000), "4×, capped")

        #expect(try probe(s, c, "db", afterMs: 3_000, "failure")["state"] == .string("open"))
        #expect(try status(c, "db")["cooldown_ms_current"] == .integer(3_000), "stays at the cap")

        #expect(try probe(s, c, "db", afterMs: 3_000, "success")["state"] == .string("closed"))
        #expect(try status(c, "db")["cooldown_ms_current"] == .integer(1_000), "back to cooldown_ms once closed")
        #expect(try report(c, "db", "failure")["state"] == .string("open"))
        #expect(try status(c, "db")["retry_after_ms"] == .integer(1_000))

        // A fixed cooldown never grows.
        try configure(c, "fixed", #"{"failure_threshold":"1/1","cooldown_ms":1000,"half_open_permits":1}"#)
        try report(c, "fixed", "failure")
        #expect(try probe(s, c, "fixed", afterMs: 1_000, "failure")["state"] == .string("open"))
        #expect(try status(c, "fixed")["cooldown_ms_current"] == .integer(1_000))
    }

    @Test func jitterKeepsEachCooldownWithinItsBoundsAndSpreadsThem() throws {
        let s = try TestServer()
        let c = try s.connect()
        var waits: [Int] = []
        for i in 0..<40 {
            try configure(c, "j\(i)", #"{"failure_threshold":"1/1","cooldown_ms":10000,"cooldown_jitter":0.5}"#)
            try report(c, "j\(i)", "failure")
            waits.append(try #require(try status(c, "j\(i)")["retry_after_ms"]?.intValue))
        }
        #expect(waits.allSatisfy { (5_000...15_000).contains($0) }, "\(waits)")
        #expect(Set(waits).count > 20, "each breaker draws its own: \(waits)")
        // The breaker opens for exactly the wait it showed (rounded up to a millisecond).
        let first = waits[0]
        s.clock.advance(by: .milliseconds(Int64(first) - 1))
        #expect(try c.request(#"{"op":"acquire","resource":"j0"}"#)["allowed"] == .bool(false))
        s.clock.advance(by: .milliseconds(1))
        #expect(try c.request(#"{"op":"acquire","resource":"j0"}"#)["state"] == .string("half_open"))
        // cooldown_ms_current is before jitter.
        #expect(try status(c, "j1")["cooldown_ms_current"] == .integer(10_000))
    }

    // MARK: Shadow mode

    @Test func shadowAcquireNeverRejectsAndSaysWhatEnforceWouldHave() throws {
        let s = try TestServer()
        let c = try s.connect()
        let watcher = try s.connect()
        #expect(try watcher.request(#"{"op":"watch","prefix":"shadow"}"#).isOK)
        let shadow = #"{"failure_threshold":"1/1","cooldown_ms":60000,"half_open_permits":1,"mode":"shadow"}"#
        try configure(c, "shadow", shadow)
        try configure(c, "enforce", shadow.replacingOccurrences(of: "shadow", with: "enforce"))
        #expect(try status(c, "shadow")["policy"]?["mode"] == .string("shadow"))
        #expect(try status(c, "enforce")["policy"]?["mode"] == .string("enforce"))

        /// Sends the same request to both breakers: the shadow one's reply, after checking that its state and
        /// generation are the enforced one's.
        func both(_ fields: String) throws -> (shadow: JSONValue, enforce: JSONValue) {
            let a = try c.request(#"{"resource":"shadow",\#(fields)}"#)
            let b = try c.request(#"{"resource":"enforce",\#(fields)}"#)
            #expect(a["state"] == b["state"] && a["generation"] == b["generation"], "\(a.jsonText) vs \(b.jsonText)")
            return (a, b)
        }

        let closed = try both(#""op":"acquire""#)
        #expect(closed.shadow.jsonText == #"{"allowed":true,"generation":0,"ok":true,"state":"closed"}"#)
        #expect(try both(#""op":"report","outcome":"failure""#).shadow["state"] == .string("open"))
        let tripped = try watcher.readJSON()
        #expect(tripped["to"] == .string("open") && tripped["shadow"] == .bool(true), "\(tripped.jsonText)")

        // Open: enforce rejects; shadow allows, says so, and gives neither a permit nor a wait.
        let open = try both(#""op":"acquire""#)
        #expect(open.enforce["allowed"] == .bool(false) && open.enforce["would_allow"] == nil)
        #expect(
            open.shadow.jsonText == #"{"allowed":true,"generation":1,"ok":true,"state":"open","would_allow":false}"#
        )
        // The outcome of a call shadow mode let through is not counted.
        let uncounted = try both(#""op":"report","outcome":"success""#).shadow
        #expect(uncounted["counted"] == .bool(false) && uncounted["reason"] == .string("open"))

        // Half-open: permits as enforce mode grants them; past them, allowed with would_allow:false.
        s.clock.advance(by: .seconds(60))
        let probe = try both(#""op":"acquire""#)
        #expect(probe.shadow["permit"] == probe.enforce["permit"] && probe.shadow["would_allow"] == nil)
        #expect(try watcher.readJSON()["shadow"] == .bool(true))
        let full = try both(#""op":"acquire""#)
        #expect(full.enforce["allowed"] == .bool(false))
        #expect(full.shadow["allowed"] == .bool(true) && full.shadow["would_allow"] == .bool(false))
        #expect(full.shadow["retry_after_ms"] == nil && full.shadow["permit"] == nil)
        let permit = try #require(probe.shadow["permit"]?.stringValue)
        #expect(
            try both(#""op":"report","outcome":"success","permit":"\#(permit)""#).shadow["state"] == .string("closed")
        )
        #expect(try watcher.readJSON()["to"] == .string("closed"))

        // Forced open: never rejected either ("always").
        #expect(try both(#""op":"force","state":"open""#).shadow["breaker"]?["state"] == .string("forced_open"))
        let forced = try both(#""op":"acquire""#)
        #expect(forced.enforce["allowed"] == .bool(false))
        #expect(forced.shadow["allowed"] == .bool(true) && forced.shadow["would_allow"] == .bool(false))

        // A lease on it is granted as for closed, and says enforce would not.
        let lease = try c.request(#"{"op":"lease","resources":[{"resource":"shadow"},{"resource":"enforce"}]}"#)
        let slots = lease["leases"]?.arrayValue ?? []
        #expect(
            slots.first?.jsonText
                == #"{"generation":4,"lease_ms":1000,"resource":"shadow","state":"forced_open","would_allow":false}"#
        )
        #expect(slots.last?["lease_ms"] == .integer(0) && slots.last?["would_allow"] == nil)

        // Every transition of the shadow breaker is marked, in history too; the enforced one's are not.
        let history = try c.request(#"{"op":"history","resource":"shadow"}"#)["transitions"]?.arrayValue ?? []
        #expect(history.count == 4 && history.allSatisfy { $0["shadow"] == .bool(true) })
        let enforced = try c.request(#"{"op":"history","resource":"enforce"}"#)["transitions"]?.arrayValue ?? []
        #expect(enforced.count == 4 && enforced.allSatisfy { $0["shadow"] == nil })
    }

    // MARK: Failing-client quorum

    @Test func aQuorumOfKClientsTripsAndKMinusOneNeverDoes() throws {
        let s = try TestServer()
        let admin = try s.connect()
        try configure(
            admin,
            "db",
            #"{"failure_threshold":"2/4","window":{"type":"count","size":8},"minimum_calls":4,"min_failing_clients":3}"#
        )
        func client(_ name: String) throws -> LineClient {
            let c = try s.connect()
            #expect(try c.request(#"{"op":"hello","client":"\#(name)"}"#).isOK)
            return c
        }
        let a = try client("host-a")
        let b = try client("host-b")
        // K − 1 = 2 clients: never, however many failures.
        for _ in 0..<10 {
            #expect(try report(a, "db", "failure")["state"] == .string("closed"))
            #expect(try b.request(#"{"op":"report","resource":"db","failures":3}"#)["state"] == .string("closed"))
        }
        var b0 = try status(admin, "db")
        #expect(b0["window"]?["failing_clients"] == .integer(2) && b0["window"]?["failures"] == .integer(8))
        // The K-th: trips at once.
        let c = try client("host-c")
        #expect(try report(c, "db", "failure")["state"] == .string("open"))
        #expect(try lastCause(admin, "db") == "failure_threshold")

        // Connections without hello are told apart by their peer's IP address: all of these are 127.0.0.1.
        try configure(admin, "anon", #"{"failure_threshold":"1/2","min_failing_clients":2}"#)
        let anonymous = try (0..<4).map { _ in try s.connect() }
        for connection in anonymous {
            #expect(try report(connection, "anon", "failure")["state"] == .string("closed"))
        }
        b0 = try status(admin, "anon")
        #expect(b0["window"]?["failing_clients"] == .integer(1), "one address, one client")
        // Lease entries count for the connection's client too.
        let leased = try a.request(#"{"op":"lease","resources":[{"resource":"anon","failures":1}]}"#)
        #expect(leased["leases"]?.arrayValue?.first?["state"] == .string("open"), "host-a and 127.0.0.1: two clients")
    }

    // MARK: Leases

    @Test func leaseEntriesCountSlowOutcomes() throws {
        let s = try TestServer()
        let c = try s.connect()
        let policy = #"{"failure_threshold":"4/4","slow_call_ms":100,"slow_call_threshold":"2/4"}"#
        func lease(_ fields: String) throws -> JSONValue {
            let reply = try c.request(#"{"op":"lease","resources":[{"resource":"db",\#(fields),"policy":\#(policy)}]}"#)
            return try #require(reply["leases"]?.arrayValue?.first, "\(reply.jsonText)")
        }
        #expect(try lease(#""successes":4,"slow":1"#)["state"] == .string("closed"), "1 of 4")
        #expect(try status(c, "db")["window"]?["slow"] == .integer(1))
        #expect(try lease(#""successes":1,"slow":1"#)["state"] == .string("open"), "2 of the last 4")
        // The lease holder hears of the transition after the reply.
        #expect(try c.readJSON()["cause"] == .string("slow_call_threshold"))
        #expect(try lastCause(c, "db") == "slow_call_threshold")
        let bad = try lease(#""successes":1,"slow":2"#)
        #expect(bad["error"]?["code"] == .string("bad_request"))
    }

    // MARK: Persistence

    @Test func everyNewFieldSurvivesARestart() throws {
        let dir = NSTemporaryDirectory() + "fields-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/b.sqlite"
        let grow =
            #"{"failure_threshold":"1/1","cooldown_ms":10000,"cooldown_max_ms":80000,"cooldown_multiplier":4,"#
            + #""cooldown_jitter":0.25,"half_open_permits":1,"mode":"shadow"}"#
        let slow =
            #"{"failure_threshold":"4/4","slow_call_ms":100,"slow_call_threshold":"3/4","min_failing_clients":2}"#
        var before: [String: JSONValue] = [:]
        do {
            let s = try TestServer { $0.databasePath = path }
            let c = try s.connect()
            #expect(try c.request(#"{"op":"hello","client":"host-a"}"#).isOK)
            try configure(c, "grow", grow)
            try report(c, "grow", "failure")
            let wait = try #require(try status(c, "grow")["retry_after_ms"]?.intValue)
            s.clock.advance(by: .milliseconds(Int64(wait)))
            let permit = try #require(try c.request(#"{"op":"acquire","resource":"grow"}"#)["permit"]?.stringValue)
            #expect(
                try c.request(#"{"op":"report","resource":"grow","outcome":"failure","permit":"\#(permit)"}"#)["state"]
                    == .string("open")
            )
            try configure(c, "slow", slow)
            try report(c, "slow", "failure", durationMs: 500)
            try report(c, "slow", "success", durationMs: 20)
            for name in ["grow", "slow"] { before[name] = try status(c, name) }
        }
        #expect(before["grow"]?["cooldown_ms_current"] == .integer(40_000), "10 s × 4")
        let s = try TestServer { $0.databasePath = path }
        let c = try s.connect()
        let grow2 = try status(c, "grow")
        #expect(grow2["policy"] == before["grow"]?["policy"])
        #expect(grow2["state"] == .string("open") && grow2["cooldown_ms_current"] == .integer(40_000))
        let left = try #require(grow2["retry_after_ms"]?.intValue)
        #expect(left > 10_000 && left <= 50_000, "the grown cooldown's remainder, not one of 10 s: \(left)")
        let history = try c.request(#"{"op":"history","resource":"grow"}"#)["transitions"]?.arrayValue ?? []
        #expect(history.map { $0["cause"]?.stringValue } == ["probes_failed", "cooldown_elapsed", "failure_threshold"])
        #expect(history.allSatisfy { $0["shadow"] == .bool(true) }, "read back from the database")
        let slow2 = try status(c, "slow")
        #expect(slow2["policy"] == before["slow"]?["policy"])
        #expect(
            slow2["window"]
                == .object([
                    "calls": .integer(2), "failures": .integer(1), "slow": .integer(1), "failing_clients": .integer(1),
                ])
        )
        // The restored window goes on counting slow outcomes and clients: 3 of 4 slow trips it.
        try report(c, "slow", "success", durationMs: 100)
        #expect(try report(c, "slow", "success", durationMs: 100)["state"] == .string("open"))
        #expect(try lastCause(c, "slow") == "slow_call_threshold")
    }

    @Test func clientIdentitiesAreFNV1aOfTheNameNeverZero() {
        #expect(ClientIdentity.hash("") == 0xCBF2_9CE4_8422_2325)
        #expect(ClientIdentity.hash("a") == 0xAF63_DC4C_8601_EC8C)
        #expect(ClientIdentity.hash("host-a") != ClientIdentity.hash("host-b"))
    }
}
