import BreakerProtocol
import BreakerTestSupport
import Testing

/// Every row of the bad-input table against the real `breakerd` binary (limits set with its flags): a precise
/// error, and the server keeps serving everyone else. The slow-watcher row runs in-process with a small limit.
@Suite struct BadInputTests {
    @Test func errorsLeaveTheConnectionOpen() throws {
        let s = try ServerProcess(arguments: [])
        let c = try s.connect()
        let cases: [(String, String, String)] = [
            ("this is not json", "bad_json", "not JSON"),
            (#"[1,2,3]"#, "bad_request", "JSON object"),
            (#""a string""#, "bad_request", "JSON object"),
            (#"{"op":"report","resource":"r","outcome":"maybe"}"#, "bad_request", "'outcome'"),
            (#"{"op":"force","resource":"r","state":"sideways"}"#, "bad_request", "'state'"),
            (#"{"id":{"nested":true},"op":"ping"}"#, "bad_request", "'id'"),
            (#"{"op":"acquire"}"#, "bad_request", "'resource'"),
            (#"{"op":"history","resource":"r","limit":-5}"#, "bad_request", "'limit'"),
            (#"{"op":"teleport"}"#, "unknown_op", "teleport"),
            (#"{"op":"acquire","resource":"has space"}"#, "invalid_resource", "allowed are"),
            (
                #"{"op":"acquire","resource":"r","policy":{"failure_threshold":"5/3"}}"#, "invalid_policy",
                "policy.failure_threshold"
            ),
            (
                #"{"op":"configure","resource":"r","policy":{"failure_threshold":"1/3","window":{"type":"time","ms":1000,"buckets":0}}}"#,
                "invalid_policy", "policy.window.buckets"
            ),
        ]
        for (line, code, mention) in cases {
            let reply = try c.request(line)
            #expect(reply["ok"] == .bool(false), "\(line)")
            #expect(reply.errorCode == code, "\(line) → \(reply.jsonText)")
            #expect(reply.errorMessage?.contains(mention) == true, "\(line) → \(reply.jsonText)")
        }
        #expect(try c.request(#"{"op":"ping","id":"still-here"}"#)["id"] == .string("still-here"))
    }

    @Test func errorRepliesEchoTheID() throws {
        let s = try ServerProcess(arguments: [])
        let c = try s.connect()
        let r = try c.request(#"{"id":42,"op":"report","resource":"x","outcome":"maybe"}"#)
        #expect(r["id"] == .integer(42) && r.errorCode == "bad_request")
    }

    @Test func unknownResourcesAreNotFound() throws {
        let s = try ServerProcess(arguments: [])
        let c = try s.connect()
        for op in [
            #"{"op":"status","resource":"ghost"}"#, #"{"op":"history","resource":"ghost"}"#,
            #"{"op":"force","resource":"ghost","state":"open"}"#, #"{"op":"release","resource":"ghost"}"#,
            #"{"op":"reset","resource":"ghost"}"#, #"{"op":"delete","resource":"ghost"}"#,
        ] {
            let r = try c.request(op)
            #expect(r.errorCode == "not_found" && r.errorMessage?.contains("ghost") == true, "\(op)")
        }
        #expect(try c.request(#"{"op":"list"}"#)["breakers"] == .array([]), "not_found created nothing")
    }

    @Test func validationComesBeforeTheLookup() throws {
        let s = try ServerProcess(arguments: [])
        let c = try s.connect()
        // A bad field on an unknown resource is a bad_request, not not_found.
        #expect(try c.request(#"{"op":"force","resource":"ghost","state":"sideways"}"#).errorCode == "bad_request")
        #expect(try c.request(#"{"op":"history","resource":"ghost","limit":0}"#).errorCode == "bad_request")
    }

    @Test func tooLongLineGetsAnErrorThenTheConnectionCloses() throws {
        let s = try ServerProcess(arguments: ["--max-line-bytes", "1024"])
        let c = try s.connect()
        let bystander = try s.connect()
        let long = #"{"op":"acquire","resource":"x","pad":""# + String(repeating: "a", count: 2_000) + #""}"#
        try c.send(long)
        let reply = try c.readJSON()
        #expect(reply.errorCode == "line_too_long" && reply.errorMessage?.contains("1024") == true)
        #expect(try c.waitForClose())
        // A line exactly at the limit is fine (both sides of the edge).
        let prefix = #"{"op":"ping","pad":""#
        let exact = prefix + String(repeating: "b", count: 1_024 - prefix.utf8.count - 2) + #""}"#
        #expect(exact.utf8.count == 1_024)
        #expect(try bystander.request(exact).isOK)
        #expect(try bystander.request(exact + " ").errorCode == "line_too_long")
    }

    @Test func tooLongPartialLineIsCaughtBeforeItEnds() throws {
        let s = try ServerProcess(arguments: ["--max-line-bytes", "1024"])
        let c = try s.connect()
        try c.send(raw: String(repeating: "x", count: 5_000))  // no newline ever
        #expect(try c.readJSON().errorCode == "line_too_long")
        #expect(try c.waitForClose())
    }

    @Test func overTheConnectionLimitIsRefused() throws {
        let s = try ServerProcess(arguments: ["--max-connections", "3"])
        let held = try (0..<3).map { _ in try s.connect() }
        for c in held { #expect(try c.request(#"{"op":"ping"}"#).isOK) }
        let extra = try s.connect()
        let reply = try extra.readJSON()
        #expect(reply.errorCode == "too_many_connections")
        #expect(try extra.waitForClose())
        #expect(try held[0].request(#"{"op":"ping"}"#).isOK, "the others keep being served")
        let stats = try held[1].request(#"{"op":"stats"}"#)
        #expect(stats["stats"]?["rejected_connections"] == .integer(1))
    }

    @Test func overTheBreakerLimitIsRefused() throws {
        let s = try ServerProcess(arguments: ["--max-breakers", "5"])
        let c = try s.connect()
        for i in 0..<5 { #expect(try c.request(#"{"op":"acquire","resource":"b\#(i)"}"#).isOK) }
        let r = try c.request(#"{"op":"acquire","resource":"b5"}"#)
        #expect(r.errorCode == "too_many_breakers" && r.errorMessage?.contains("--max-breakers") == true)
        #expect(
            try c.request(#"{"op":"configure","resource":"b6","policy":{"failure_threshold":"1/2"}}"#).errorCode
                == "too_many_breakers"
        )
        #expect(try c.request(#"{"op":"acquire","resource":"b4"}"#).isOK, "existing breakers still work")
        try c.request(#"{"op":"delete","resource":"b0"}"#)
        #expect(try c.request(#"{"op":"acquire","resource":"b5"}"#).isOK, "a delete frees a slot")
    }

    @Test(arguments: ["GET / HTTP/1.1\r\nHost: x\r\n\r\n", "POST /acquire HTTP/1.1\r\n", "Host: example\r\n"])
    func httpIsClosedAtOnceWithoutAReply(request: String) throws {
        let s = try ServerProcess(arguments: [])
        let c = try s.connect()
        try c.send(raw: request)
        #expect(try c.readLine() == nil, "closed without a reply")
        #expect(try s.connect().request(#"{"op":"ping"}"#).isOK)
    }

    @Test func emptyLinesAndCRLFAreAccepted() throws {
        let s = try ServerProcess(arguments: [])
        let c = try s.connect()
        try c.send(raw: "\n\r\n{\"op\":\"ping\",\"id\":1}\r\n\n")
        #expect(try c.readJSON()["id"] == .integer(1))
    }

    @Test func aWatcherThatDoesNotReadIsDisconnected() throws {
        let s = try TestServer { $0.slowConsumerLimit = 64 * 1_024 }
        let sleeper = try s.connect(receiveBuffer: 4_096)
        #expect(try sleeper.request(#"{"op":"watch"}"#).isOK)
        let admin = try s.connect()
        try admin.request(#"{"op":"configure","resource":"flappy","policy":{"failure_threshold":"1/1"}}"#)
        // Each reset is a transition event of ~130 bytes; kernel buffers absorb some, then the server's
        // pending output passes the limit and it disconnects the watcher.
        var disconnected = false
        for round in 0..<40 {
            let batch = String(repeating: #"{"op":"reset","resource":"flappy"}"# + "\n", count: 1_000)
            try admin.send(raw: batch)
            for _ in 0..<1_000 { _ = try admin.readLine() }
            let stats = try admin.request(#"{"op":"stats"}"#)
            if stats["stats"]?["slow_consumer_disconnects"] == .integer(1) {
                disconnected = true
                break
            }
            _ = round
        }
        #expect(disconnected)
        #expect(try admin.request(#"{"op":"ping"}"#).isOK, "everyone else is still served")
    }
}
