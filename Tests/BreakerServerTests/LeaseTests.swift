import BreakerCore
import BreakerProtocol
import BreakerTestSupport
import Testing

@testable import BreakerServer

/// `lease` against a live in-process server on a manual clock: counts, the state rules, held replies, and the
/// events a lease holder receives while (and only while) its lease lasts. Then the lease table on its own.
@Suite struct LeaseTests {
    static let trip = #"{"failure_threshold":"1/1","cooldown_ms":10000}"#

    func server(leaseMs: Int64 = 1_000, configure: (inout ServerConfiguration) -> Void = { _ in }) throws -> TestServer
    {
        try TestServer { config in
            config.leaseDuration = .milliseconds(leaseMs)
            configure(&config)
        }
    }

    /// The reply's slots. (`jsonText` writes members sorted by name.)
    func slots(_ reply: JSONValue) -> [JSONValue] {
        #expect(reply.isOK, "\(reply.jsonText)")
        return reply["leases"]?.arrayValue ?? []
    }

    /// Sends `ping` and expects its reply next: no event was waiting before it.
    func expectNoEvent(_ c: LineClient, _ why: Comment) throws {
        let next = try c.request(#"{"op":"ping","id":"no-event"}"#)
        #expect(next["id"] == .string("no-event"), why)
    }

    // MARK: Over the wire

    @Test func aLeaseHolderGetsOtherConnectionsTransitionsUntilItsLeaseLapses() throws {
        // Two loops: the change and the event cross from one connection's loop to the other's.
        let s = try server(leaseMs: 1_000) { $0.eventLoopCount = 2 }
        let admin = try s.connect()
        let holder = try s.connect()
        #expect(try admin.request(#"{"op":"configure","resource":"db","policy":\#(Self.trip)}"#).isOK)
        let first = slots(try holder.request(#"{"op":"lease","resources":[{"resource":"db"}]}"#))
        #expect(first.first?.jsonText == #"{"generation":0,"lease_ms":1000,"resource":"db","state":"closed"}"#)

        // 1 ms before the lease ends: still live.
        s.clock.advance(by: .milliseconds(999))
        #expect(try admin.request(#"{"op":"report","resource":"db","outcome":"failure"}"#)["state"] == .string("open"))
        let trip = try holder.readJSON()
        #expect(
            trip["event"] == .string("transition") && trip["to"] == .string("open") && trip["resource"] == .string("db")
        )

        // At lease_ms after the last entry, without a renewal: no more events.
        s.clock.advance(by: .milliseconds(1))
        #expect(try admin.request(#"{"op":"reset","resource":"db"}"#).isOK)
        try expectNoEvent(holder, "the lease lapsed: the reset is not pushed")

        // Renewed: events flow again, whatever lease_ms the slot carried (open: 0).
        let renewed = slots(try holder.request(#"{"op":"lease","resources":[{"resource":"db"}]}"#))
        #expect(renewed.first?["lease_ms"] == .integer(1_000))
        #expect(try admin.request(#"{"op":"force","resource":"db","state":"open"}"#).isOK)
        let forced = try holder.readJSON()
        #expect(forced["to"] == .string("forced_open") && forced["cause"] == .string("forced"))
        let open = slots(try holder.request(#"{"op":"lease","resources":[{"resource":"db"}]}"#))
        #expect(open.first?["lease_ms"] == .integer(0) && open.first?["retry_after_ms"] == .integer(10_000))
        s.clock.advance(by: .milliseconds(999))
        #expect(try admin.request(#"{"op":"release","resource":"db"}"#).isOK)
        #expect(try holder.readJSON()["to"] == .string("closed"), "an open circuit's holder hears it close")
        #expect(try admin.request(#"{"op":"delete","resource":"db"}"#).isOK)
        #expect(try holder.readJSON().jsonText == #"{"event":"deleted","resource":"db"}"#)
    }

    @Test func aHolderThatAlsoWatchesGetsOneCopy() throws {
        let s = try server()
        let admin = try s.connect()
        let holder = try s.connect()
        #expect(try holder.request(#"{"op":"watch","prefix":"d"}"#).isOK)
        _ = slots(try holder.request(#"{"op":"lease","resources":[{"resource":"db"},{"resource":"other"}]}"#))
        #expect(try admin.request(#"{"op":"force","resource":"db","state":"open"}"#).isOK)
        #expect(try holder.readJSON()["resource"] == .string("db"))
        #expect(try admin.request(#"{"op":"force","resource":"other","state":"open"}"#).isOK)
        #expect(try holder.readJSON()["resource"] == .string("other"), "leased, not watched: still one copy")
        try expectNoEvent(holder, "one copy of each event")
    }

    @Test func aLeaseNeverMovesOpenToHalfOpen() throws {
        let s = try server()
        let c = try s.connect()
        let tripped = slots(
            try c.request(#"{"op":"lease","resources":[{"resource":"db","failures":1,"policy":\#(Self.trip)}]}"#)
        )
        #expect(
            tripped.first?.jsonText
                == #"{"generation":1,"lease_ms":0,"resource":"db","retry_after_ms":10000,"state":"open"}"#
        )
        #expect(try c.readJSON()["to"] == .string("open"), "its own trip's event, after the reply")
        s.clock.advance(by: .seconds(11))
        let still = slots(try c.request(#"{"op":"lease","resources":[{"resource":"db","successes":5}]}"#))
        #expect(
            still.first?.jsonText
                == #"{"generation":1,"lease_ms":0,"resource":"db","retry_after_ms":0,"state":"open"}"#,
            "past the cooldown a lease still says open; counts are not counted"
        )
        let window = try c.request(#"{"op":"status","resource":"db"}"#)["breaker"]?["window"]
        #expect(
            window?.jsonText == #"{"calls":1,"failing_clients":0,"failures":1,"slow":0}"#,
            "only the tripping failure is in the window"
        )
        let acquire = try c.request(#"{"op":"acquire","resource":"db"}"#)
        #expect(acquire["state"] == .string("half_open") && acquire["permit"] != nil, "acquire does")
        #expect(try c.readJSON()["to"] == .string("half_open"))
        let half = slots(try c.request(#"{"op":"lease","resources":[{"resource":"db","failures":3}]}"#))
        #expect(
            half.first?.jsonText == #"{"generation":2,"lease_ms":0,"resource":"db","state":"half_open"}"#,
            "half_open: no lease, no retry hint, and counts without permits are not counted"
        )
    }

    @Test func countsEnterTheWindowSuccessesFirstAndOnlyWhileClosed() throws {
        let s = try server()
        let c = try s.connect()
        let policy = #"{"failure_threshold":"2/4","window":{"type":"count","size":4}}"#
        _ = slots(try c.request(#"{"op":"lease","resources":[{"resource":"db","policy":\#(policy)}]}"#))
        // 3 successes then 1 failure: 1/4 failures, no trip (failures first would have been 1/1).
        let one = slots(try c.request(#"{"op":"lease","resources":[{"resource":"db","successes":3,"failures":1}]}"#))
        #expect(one.first?["state"] == .string("closed"))
        let window = try c.request(#"{"op":"status","resource":"db"}"#)["breaker"]?["window"]
        #expect(window?.jsonText == #"{"calls":4,"failing_clients":0,"failures":1,"slow":0}"#)
        let two = slots(try c.request(#"{"op":"lease","resources":[{"resource":"db","failures":1}]}"#))
        #expect(two.first?["state"] == .string("open"), "2 of the last 4 failed")
        #expect(try c.readJSON()["to"] == .string("open"))
        // forced_closed counts but never trips, and grants the lease.
        #expect(try c.request(#"{"op":"force","resource":"db","state":"closed"}"#).isOK)
        #expect(try c.readJSON()["to"] == .string("forced_closed"))
        let forced = slots(try c.request(#"{"op":"lease","resources":[{"resource":"db","failures":2}]}"#))
        #expect(forced.first?["state"] == .string("forced_closed") && forced.first?["lease_ms"] == .integer(1_000))
        #expect(try c.request(#"{"op":"status","resource":"db"}"#)["breaker"]?["window"]?["failures"] == .integer(2))
    }

    @Test func trippingCountsHoldTheReplyUntilEveryCommitAndEventsComeAfterIt() throws {
        let s = try server()
        let watcher = try s.connect()
        #expect(try watcher.request(#"{"op":"watch"}"#).isOK)
        let c = try s.connect()
        // Many resources, so their changes land in several shards and, likely, several commits; a ping pipelined
        // behind the lease is answered after the reply and the lease's own events.
        let names = (0..<8).map { "trip-\($0)" }
        let entries = names.map { #"{"resource":"\#($0)","failures":1,"policy":\#(Self.trip)}"# }
        try c.send(#"{"id":1,"op":"lease","resources":[\#(entries.joined(separator: ",")),{"resource":"calm"}]}"#)
        try c.send(#"{"id":2,"op":"ping"}"#)
        let reply = try c.readJSON()
        #expect(reply["id"] == .integer(1))
        let states = slots(reply).map { $0["state"]?.stringValue ?? "?" }
        #expect(states == Array(repeating: "open", count: 8) + ["closed"])
        var seen: Set<String> = []
        for _ in names {
            let event = try c.readJSON()
            #expect(event["event"] == .string("transition") && event["to"] == .string("open"))
            seen.insert(event["resource"]?.stringValue ?? "?")
        }
        #expect(seen == Set(names), "each trip's event, after the reply that caused it")
        #expect(try c.readJSON()["id"] == .integer(2), "the pipelined request after the events that waited")
        var watched: Set<String> = []
        for _ in names { watched.insert(try watcher.readJSON()["resource"]?.stringValue ?? "?") }
        #expect(watched == Set(names))
    }

    @Test func anEntryOverTheBreakerLimitFailsAlone() throws {
        let s = try server { $0.maximumBreakers = 1 }
        let c = try s.connect()
        let answer = slots(
            try c.request(#"{"op":"lease","resources":[{"resource":"a"},{"resource":"b"},{"resource":"a"}]}"#)
        )
        #expect(answer.count == 3)
        #expect(answer[0]["state"] == .string("closed") && answer[2]["state"] == .string("closed"))
        #expect(answer[1]["resource"] == .string("b") && answer[1].errorCode == "too_many_breakers")
    }

    @Test func statusCountsLiveLeasesOnly() throws {
        let s = try server(leaseMs: 500)
        let a = try s.connect()
        let b = try s.connect()
        #expect(try a.request(#"{"op":"acquire","resource":"db"}"#).isOK)
        #expect(try a.request(#"{"op":"status","resource":"db"}"#)["breaker"]?["leases"] == nil, "none: left out")
        _ = slots(try a.request(#"{"op":"lease","resources":[{"resource":"db"}]}"#))
        s.clock.advance(by: .milliseconds(300))
        _ = slots(try b.request(#"{"op":"lease","resources":[{"resource":"db"},{"resource":"db"}]}"#))
        #expect(try a.request(#"{"op":"status","resource":"db"}"#)["breaker"]?["leases"] == .integer(2))
        s.clock.advance(by: .milliseconds(200))
        #expect(try a.request(#"{"op":"status","resource":"db"}"#)["breaker"]?["leases"] == .integer(1), "a's lapsed")
        s.clock.advance(by: .milliseconds(300))
        #expect(try a.request(#"{"op":"status","resource":"db"}"#)["breaker"]?["leases"] == nil)
    }

    @Test func theLeaseFlagIsCheckedAtItsEdges() throws {
        for (ms, valid) in [(0, false), (1, true), (60_000, true), (60_001, false)] {
            var options = ServerOptions()
            options.db = ":memory:"
            options.leaseMs = ms
            let accepted = (try? options.configuration()) != nil
            #expect(accepted == valid, "--lease-ms \(ms)")
        }
        #expect(ServerOptions().leaseMs == 1_000 && ServerConfiguration().leaseDuration == .seconds(1))
    }

    // MARK: The lease table

    let t0 = MonotonicInstant(nanoseconds: 5_000_000_000)
    func key(_ n: Int32) -> ConnectionKey { ConnectionKey(loop: 0, fd: n, serial: UInt64(n)) }

    @Test func aLeaseIsLiveUntilItsExpiryExclusive() {
        var table = LeaseTable()
        let end = t0 + .milliseconds(1_000)
        table.renew(key(1), ["db", "pay"], until: end, now: t0)
        table.renew(key(2), ["db"], until: end + .milliseconds(5), now: t0)
        #expect(table.liveCount(of: "db", now: end + .nanoseconds(-1)) == 2)
        #expect(Set(table.liveHolders(of: "db", now: end + .nanoseconds(-1))) == [key(1), key(2)])
        #expect(table.liveHolders(of: "db", now: end) == [key(2)], "at the expiry: lapsed, and dropped")
        #expect(table.count(of: key(1)) == 1, "key 1 keeps its lease on pay")
        #expect(table.liveHolders(of: "db", now: end + .milliseconds(5)).isEmpty)
        #expect(table.count(of: key(2)) == 0)
        table.remove(key(1))
        #expect(table.resourceCount == 0 && table.count(of: key(1)) == 0, "closing drops everything it held")
    }

    @Test func aConnectionHoldsAtMostItsLimitAndTheOldestRenewalsGoFirst() {
        var table = LeaseTable(maximumPerConnection: 3)
        let end = t0 + .seconds(1)
        table.renew(key(1), ["a", "b", "c"], until: end, now: t0)
        table.renew(key(1), ["a"], until: end, now: t0)
        table.renew(key(1), ["d"], until: end, now: t0)
        #expect(table.count(of: key(1)) == 3)
        #expect(table.liveCount(of: "b", now: t0) == 0, "b was renewed longest ago")
        #expect(table.liveCount(of: "a", now: t0) == 1 && table.liveCount(of: "c", now: t0) == 1)
        // Expired ones go before live ones.
        table.renew(key(1), ["e"], until: end + .seconds(5), now: end)
        #expect(table.count(of: key(1)) == 1 && table.liveCount(of: "e", now: end) == 1)
        #expect(table.resourceCount == 1)
        table.renew(key(2), (0..<10).map { "n\($0)" }, until: end, now: t0)
        #expect(table.count(of: key(2)) == 3 && table.liveCount(of: "n9", now: t0) == 1)
        #expect(table.liveCount(of: "n0", now: t0) == 0)
    }
}
