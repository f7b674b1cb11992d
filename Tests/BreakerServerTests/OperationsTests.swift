import BreakerProtocol
import BreakerTestSupport
import Testing

/// Every op of protocol v1 against a live server (real sockets, port 0, manual clock).
@Suite struct OperationsTests {
    @Test func pingAndHello() throws {
        let s = try TestServer()
        let c = try s.connect()
        #expect(try c.request(#"{"op":"ping","id":1}"#).jsonText == #"{"id":1,"ok":true}"#)
        let hello = try c.request(#"{"op":"hello","client":"api-7","protocol":1,"id":"h"}"#)
        #expect(hello["server"] == .string("breakerd") && hello["protocol"] == .integer(1))
        #expect(hello["role"] == .string("admin"), "no token files: every connection is admin")
        #expect(hello["id"] == .string("h") && hello["version"]?.stringValue != nil)
        let wrong = try c.request(#"{"op":"hello","protocol":2}"#)
        #expect(wrong.errorCode == "bad_request" && wrong.errorMessage!.contains("protocol"))
    }

    @Test func acquireReportTripAndHalfOpenOverTheWire() throws {
        let s = try TestServer()
        let c = try s.connect()
        let policy = #"{"failure_threshold":"2/4","success_threshold":"2/2","cooldown_ms":30000}"#
        for _ in 0..<3 {
            let a = try c.request(#"{"op":"acquire","resource":"db","policy":\#(policy)}"#)
            #expect(a["allowed"] == .bool(true))
            let r = try c.request(#"{"op":"report","resource":"db","outcome":"success"}"#)
            #expect(r["counted"] == .bool(true) && r["state"] == .string("closed"))
        }
        _ = try c.request(#"{"op":"report","resource":"db","outcome":"failure"}"#)
        let trip = try c.request(#"{"op":"report","resource":"db","outcome":"failure"}"#)
        #expect(trip["state"] == .string("open") && trip["generation"] == .integer(1))

        s.clock.advance(by: .seconds(10))
        let rejected = try c.request(#"{"op":"acquire","resource":"db"}"#)
        #expect(rejected["allowed"] == .bool(false) && rejected["retry_after_ms"] == .integer(20_000))
        #expect(rejected["permit"] == nil)
        let ignored = try c.request(#"{"op":"report","resource":"db","outcome":"failure"}"#)
        #expect(ignored["counted"] == .bool(false) && ignored["reason"] == .string("open"))

        s.clock.advance(by: .seconds(20))
        let p1 = try c.request(#"{"op":"acquire","resource":"db"}"#)
        #expect(p1["state"] == .string("half_open") && p1["permit"] == .string("2.1"))
        let p2 = try c.request(#"{"op":"acquire","resource":"db"}"#)
        #expect(p2["permit"] == .string("2.2"))
        let none = try c.request(#"{"op":"acquire","resource":"db"}"#)
        #expect(none["allowed"] == .bool(false) && none["retry_after_ms"] == .integer(10_000))
        let noPermit = try c.request(#"{"op":"report","resource":"db","outcome":"success"}"#)
        #expect(noPermit["counted"] == .bool(false) && noPermit["reason"] == .string("missing_permit"))
        _ = try c.request(#"{"op":"report","resource":"db","outcome":"success","permit":"2.1"}"#)
        let closed = try c.request(
            #"{"op":"report","resource":"db","outcome":"success","permit":"2.2","duration_ms":4}"#
        )
        #expect(closed["state"] == .string("closed") && closed["generation"] == .integer(3))
        let stale = try c.request(#"{"op":"report","resource":"db","outcome":"failure","permit":"2.1"}"#)
        #expect(stale["counted"] == .bool(false) && stale["reason"] == .string("stale_permit"))
    }

    @Test func batchedAndNoreplyReports() throws {
        let s = try TestServer()
        let c = try s.connect()
        try c.send(
            #"{"op":"report","resource":"b","successes":3,"failures":1,"noreply":true,"policy":{"failure_threshold":"5/10"}}"#
        )
        try c.send(#"{"op":"report","resource":"b","outcome":"maybe","noreply":true}"#)
        let status = try c.request(#"{"id":9,"op":"status","resource":"b"}"#)
        #expect(status["id"] == .integer(9), "noreply reports, even failing ones, write no line")
        #expect(
            status["breaker"]?["window"]
                == .object([
                    "calls": .integer(4), "failures": .integer(1), "slow": .integer(0), "failing_clients": .integer(0),
                ])
        )
    }

    @Test func statusAndListShowTheBreakerObject() throws {
        let s = try TestServer()
        let c = try s.connect()
        for name in ["pay/b", "pay/a", "search"] { try c.request(#"{"op":"acquire","resource":"\#(name)"}"#) }
        let list = try c.request(#"{"op":"list","prefix":"pay/"}"#)
        #expect(list["breakers"]?.arrayValue?.map { $0["resource"]?.stringValue } == ["pay/a", "pay/b"])
        let all = try c.request(#"{"op":"list"}"#)
        #expect(all["breakers"]?.arrayValue?.count == 3)
        let b = try #require(try c.request(#"{"op":"status","resource":"search"}"#)["breaker"])
        #expect(
            Set(b.objectValue!.keys)
                == ["resource", "state", "generation", "policy", "window", "cooldown_ms_current", "changed_at_ms"]
        )
        #expect(b["policy"]?["failure_threshold"] == .string("10/20"), "the server's default policy")
        #expect(b["policy"]?["minimum_calls"] == .integer(20))
    }

    @Test func configureForceReleaseResetDeleteAndHistory() throws {
        let s = try TestServer()
        let c = try s.connect()
        try c.request(#"{"op":"hello","client":"alice"}"#)
        let created = try c.request(
            #"{"op":"configure","resource":"api","policy":{"failure_threshold":"1/2","cooldown_ms":1000}}"#
        )
        #expect(created["breaker"]?["state"] == .string("closed") && created["breaker"]?["generation"] == .integer(0))

        let reconf = try c.request(#"{"op":"configure","resource":"api","policy":{"failure_threshold":"3/6"}}"#)
        #expect(reconf["breaker"]?["generation"] == .integer(1), "configure of an automatic breaker is a transition")
        #expect(
            reconf["breaker"]?["policy"]?["cooldown_ms"] == .integer(30_000),
            "left-out fields take the core default"
        )

        let forced = try c.request(
            #"{"op":"force","resource":"api","state":"open","reason":"db failover","ttl_ms":60000}"#
        )
        let f = try #require(forced["breaker"]?["forced"])
        #expect(forced["breaker"]?["state"] == .string("forced_open"))
        #expect(f["state"] == .string("open") && f["reason"] == .string("db failover") && f["by"] == .string("alice"))
        #expect(f["remaining_ms"] == .integer(60_000) && forced["breaker"]?["retry_after_ms"] == .integer(60_000))
        let rejected = try c.request(#"{"op":"acquire","resource":"api"}"#)
        #expect(rejected["allowed"] == .bool(false) && rejected["state"] == .string("forced_open"))

        let kept = try c.request(#"{"op":"configure","resource":"api","policy":{"failure_threshold":"2/6"}}"#)
        #expect(kept["breaker"]?["state"] == .string("forced_open"), "a forced breaker stays forced")

        let released = try c.request(#"{"op":"release","resource":"api"}"#)
        #expect(released["breaker"]?["state"] == .string("closed") && released["breaker"]?["forced"] == nil)
        let forcedClosed = try c.request(#"{"op":"force","resource":"api","state":"closed"}"#)
        #expect(forcedClosed["breaker"]?["forced"]?["remaining_ms"] == .null)
        let reset = try c.request(#"{"op":"reset","resource":"api"}"#)
        #expect(reset["breaker"]?["state"] == .string("closed"))

        let history = try c.request(#"{"op":"history","resource":"api","limit":3}"#)
        let t = try #require(history["transitions"]?.arrayValue)
        #expect(t.map { $0["cause"]?.stringValue } == ["reset", "forced", "released"], "newest first")
        #expect(t[1]["by"] == .string("alice") && t[1]["to"] == .string("forced_closed"))
        let full = try c.request(#"{"op":"history","resource":"api"}"#)["transitions"]?.arrayValue ?? []
        #expect(full.map { $0["cause"]?.stringValue } == ["reset", "forced", "released", "forced", "configured"])
        #expect(full[3]["reason"] == .string("db failover") && full[3]["at_ms"]?.intValue != nil)

        #expect(try c.request(#"{"op":"delete","resource":"api"}"#).jsonText == #"{"ok":true}"#)
        #expect(try c.request(#"{"op":"status","resource":"api"}"#).errorCode == "not_found")
    }

    @Test func forceTTLExpiresOnTheServersClockAndWatchersHearIt() throws {
        let s = try TestServer()
        let admin = try s.connect()
        let watcher = try s.connect()
        try watcher.request(#"{"op":"watch","prefix":"ttl"}"#)
        let unknown = try admin.request(#"{"op":"force","resource":"ttl1","state":"open","ttl_ms":600000}"#)
        #expect(unknown.errorCode == "not_found", "force needs an existing breaker: configure creates one")
        try admin.request(#"{"op":"configure","resource":"ttl1","policy":{"failure_threshold":"1/1"}}"#)
        try admin.request(#"{"op":"force","resource":"ttl1","state":"open","ttl_ms":600000}"#)
        let forcedEvent = try watcher.readJSON()
        #expect(forcedEvent["event"] == .string("transition") && forcedEvent["cause"] == .string("forced"))
        s.clock.advance(by: .seconds(599))
        let still = try admin.request(#"{"op":"status","resource":"ttl1"}"#)
        #expect(still["breaker"]?["forced"]?["remaining_ms"] == .integer(1_000))
        s.clock.advance(by: .seconds(1))
        // No traffic needed: the server's housekeeping ends the force and pushes the event.
        let expired = try watcher.readJSON()
        #expect(expired["cause"] == .string("force_expired") && expired["to"] == .string("closed"))
        #expect(expired["ok"] == nil, "events never carry ok")
    }

    @Test func watchUnwatchAndDeletedEvents() throws {
        let s = try TestServer()
        let w = try s.connect()
        let other = try s.connect()
        #expect(try w.request(#"{"op":"watch","prefix":""}"#).isOK)
        try other.request(#"{"op":"configure","resource":"x","policy":{"failure_threshold":"1/1"}}"#)
        try other.request(#"{"op":"report","resource":"x","outcome":"failure"}"#)
        let e = try w.readJSON()
        #expect(e["event"] == .string("transition") && e["resource"] == .string("x"))
        #expect(
            e["from"] == .string("closed") && e["to"] == .string("open") && e["cause"] == .string("failure_threshold")
        )
        #expect(e["generation"] == .integer(1) && e["at_ms"]?.intValue != nil)
        try other.request(#"{"op":"delete","resource":"x"}"#)
        #expect(try w.readJSON().jsonText == #"{"event":"deleted","resource":"x"}"#)
        #expect(try w.request(#"{"op":"unwatch"}"#).isOK)
        try other.request(#"{"op":"configure","resource":"x","policy":{"failure_threshold":"1/1"}}"#)
        try other.request(#"{"op":"report","resource":"x","outcome":"failure"}"#)
        #expect(try w.request(#"{"op":"ping","id":"after"}"#)["id"] == .string("after"), "no event after unwatch")
    }

    @Test func statsCountOpsStatesAndConnections() throws {
        let s = try TestServer()
        let c = try s.connect()
        try c.request(#"{"op":"acquire","resource":"a"}"#)
        try c.request(#"{"op":"acquire","resource":"b"}"#)
        try c.request(#"{"op":"configure","resource":"c","policy":{"failure_threshold":"1/1"}}"#)
        try c.request(#"{"op":"report","resource":"c","outcome":"failure"}"#)
        try c.request(#"{"op":"fly"}"#)
        let stats = try #require(try c.request(#"{"op":"stats"}"#)["stats"])
        #expect(stats["connections"] == .integer(1))
        #expect(stats["breakers"]?["total"] == .integer(3) && stats["breakers"]?["open"] == .integer(1))
        #expect(stats["breakers"]?["closed"] == .integer(2))
        #expect(stats["ops"]?["acquire"] == .integer(2) && stats["ops"]?["configure"] == .integer(1))
        #expect(stats["transitions"] == .integer(1) && stats["errors"] == .integer(1))
        #expect(stats["rejected_connections"] == .integer(0) && stats["slow_consumer_disconnects"] == .integer(0))
        #expect(stats["uptime_ms"]?.intValue != nil)
    }
}
