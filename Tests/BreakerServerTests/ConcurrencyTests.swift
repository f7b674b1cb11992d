import BreakerProtocol
import BreakerTestSupport
import Foundation
import Synchronization
import Testing

/// Pipelining and many connections sharing one resource, against the real `breakerd` binary (and, for the
/// test that moves time, an in-process server on a manual clock).
@Suite struct ConcurrencyTests {
    @Test func thousandPipelinedRequestsComeBackInOrder() throws {
        let s = try ServerProcess(arguments: [])
        let c = try s.connect()
        var burst = ""
        for i in 0..<1_000 {
            switch i % 4 {
            case 0: burst += #"{"id":\#(i),"op":"acquire","resource":"p\#(i % 13)"}"# + "\n"
            case 1: burst += #"{"id":\#(i),"op":"report","resource":"p\#(i % 13)","outcome":"success"}"# + "\n"
            case 2: burst += #"{"id":\#(i),"op":"status","resource":"p\#(i % 13)"}"# + "\n"
            default: burst += #"{"id":\#(i),"op":"bogus"}"# + "\n"
            }
        }
        try c.send(raw: burst)  // all 1,000 written before any reply is read
        for i in 0..<1_000 {
            let reply = try c.readJSON()
            #expect(reply["id"] == .integer(Int64(i)))
            if i % 4 == 2 { #expect(reply.isOK || reply.errorCode == "not_found") }
        }
    }

    /// Trips "shared" (3 probe permits), then for 5 rounds: `beforeProbing()`, 200 connections ask at once
    /// (every request sent before any reply is read), exactly 3 get distinct permits, and the probes fail.
    func halfOpenRounds(
        admin: LineClient,
        connect: () throws -> LineClient,
        cooldownMs: Int,
        beforeProbing: () -> Void
    ) throws {
        try admin.request(
            #"{"op":"configure","resource":"shared","policy":{"failure_threshold":"1/1","success_threshold":"3/3","cooldown_ms":\#(cooldownMs),"permit_ttl_ms":60000}}"#
        )
        let clients = try (0..<200).map { _ in try connect() }
        try admin.request(#"{"op":"report","resource":"shared","outcome":"failure"}"#)
        for round in 0..<5 {
            #expect(try admin.request(#"{"op":"status","resource":"shared"}"#)["breaker"]?["state"] == .string("open"))
            beforeProbing()
            for c in clients { try c.send(#"{"op":"acquire","resource":"shared"}"#) }
            var permits: [String] = []
            for c in clients {
                let r = try c.readJSON()
                if let p = r["permit"]?.stringValue {
                    #expect(r["allowed"] == .bool(true))
                    permits.append(p)
                } else {
                    #expect(r["allowed"] == .bool(false), "\(r.jsonText)")
                }
            }
            #expect(permits.count == 3, "round \(round)")
            #expect(Set(permits).count == 3)
            let status = try admin.request(#"{"op":"status","resource":"shared"}"#)
            #expect(status["breaker"]?["half_open"]?["permits_out"] == .integer(3))
            // The three probes fail: back to open for the next round.
            for p in permits {
                try admin.request(#"{"op":"report","resource":"shared","outcome":"failure","permit":"\#(p)"}"#)
            }
        }
    }

    @Test func twoHundredConnectionsNeverExceedTheHalfOpenPermits() throws {
        let s = try TestServer()
        try halfOpenRounds(
            admin: try s.connect(),
            connect: { try s.connect() },
            cooldownMs: 1_000,
            beforeProbing: { s.clock.advance(by: .seconds(1)) }
        )
    }

    @Test func twoHundredConnectionsAgainstTheBinary() throws {
        // Cooldown 0: the first acquire after the trip moves to half-open, with no clock to advance.
        let s = try ServerProcess(arguments: [])
        try halfOpenRounds(admin: try s.connect(), connect: { try s.connect() }, cooldownMs: 0, beforeProbing: {})
    }

    @Test func twoHundredThreadsHammeringOneResource() throws {
        let s = try ServerProcess(arguments: [])
        let admin = try s.connect()
        try admin.request(
            #"{"op":"configure","resource":"hot","policy":{"failure_threshold":"5/10","success_threshold":"2/2","cooldown_ms":0,"permit_ttl_ms":60000}}"#
        )
        let granted = Mutex<[String: Int]>([:])
        let failures = Mutex<[String]>([])
        let group = DispatchGroup()
        let port = s.port
        for t in 0..<200 {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                do {
                    let c = try LineClient(port: port)
                    for i in 0..<20 {
                        let a = try c.request(#"{"op":"acquire","resource":"hot"}"#)
                        guard a.isOK else { throw LineClient.Failure(description: a.jsonText) }
                        if let permit = a["permit"]?.stringValue {
                            granted.withLock { $0[permit, default: 0] += 1 }
                            try c.request(
                                #"{"op":"report","resource":"hot","outcome":"\#((t + i) % 3 == 0 ? "failure" : "success")","permit":"\#(permit)"}"#
                            )
                        } else if a["allowed"] == .bool(true) {
                            try c.request(
                                #"{"op":"report","resource":"hot","outcome":"\#((t + i) % 2 == 0 ? "failure" : "success")"}"#
                            )
                        }
                    }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
            thread.start()
        }
        #expect(group.wait(timeout: .now() + 120) == .success)
        #expect(failures.withLock { $0 } == [])
        // Every permit was granted exactly once, and permits of one half-open generation never exceed 2.
        let byGeneration = Dictionary(grouping: granted.withLock { $0 }, by: { $0.key.split(separator: ".")[0] })
        for (generation, permits) in byGeneration {
            #expect(permits.allSatisfy { $0.value == 1 })
            #expect(permits.count <= 2, "generation \(generation) granted \(permits.count) permits")
        }
        #expect(try admin.request(#"{"op":"ping"}"#).isOK)
    }

    @Test func aSlowPipelinerGetsBackPressureNotUnboundedMemory() throws {
        let s = try ServerProcess(arguments: [])
        let c = try s.connect(receiveBuffer: 4_096)
        // 40,000 status replies (~300 bytes each, ~12 MB) written without reading: the server stops reading
        // this connection while its output is backed up, then catches up as the client reads.
        try c.request(#"{"op":"acquire","resource":"bp"}"#)
        let writer = Thread {
            let burst = String(repeating: #"{"op":"status","resource":"bp"}"# + "\n", count: 1_000)
            for _ in 0..<40 { try? c.send(raw: burst) }
        }
        writer.start()
        var count = 0
        while count < 40_000, let line = try c.readLine(timeout: .seconds(30)) {
            if line.contains(#""ok":true"#) { count += 1 }
        }
        #expect(count == 40_000)
    }
}
