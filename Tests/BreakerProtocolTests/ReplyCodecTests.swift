import BreakerCore
import BreakerProtocol
import Testing

/// Every reply type: written, parsed and read back equal; and the bytes of a few equal the vectors' lines.
@Suite struct ReplyCodecTests {
    static let policy = try! BreakerPolicy(failureThreshold: Fraction(2, 5), successThreshold: Fraction(3, 3))

    static let info = BreakerInfo(
        resource: "pay",
        state: .forcedOpen,
        generation: 7,
        policy: policy,
        windowCalls: 4,
        windowFailures: 1,
        retryAfterMs: 59_000,
        forced: .init(state: .open, reason: "provider outage", by: "oncall", remainingMs: 59_000),
        halfOpen: nil,
        changedAtMs: 1_764_000_000_000
    )

    static let halfOpen = BreakerInfo(
        resource: "api",
        state: .halfOpen,
        generation: 2,
        policy: policy,
        windowCalls: 0,
        windowFailures: 0,
        retryAfterMs: nil,
        forced: nil,
        halfOpen: .init(permitsOut: 1, successes: 1, failures: 0),
        changedAtMs: 5
    )

    /// Writes with `write`, parses the line, and reads it back with `read`.
    func roundTrip<T>(
        _ write: (inout JSONWriter) -> Void,
        _ read: (JSONValue) throws(ReplyDecodingError) -> T
    ) throws -> (T, String) {
        var w = JSONWriter()
        write(&w)
        let text = String(decoding: w.bytes, as: UTF8.self)
        #expect(text.hasSuffix("}\n") && text.filter { $0 == "\n" }.count == 1, "one line: \(text)")
        let value = try JSONParser.parse(Array(w.bytes.dropLast()))
        return (try read(value), text)
    }

    @Test func acquireReplies() throws {
        let replies = [
            AcquireReply(allowed: true, state: .closed, generation: 0, permit: nil, retryAfter: nil),
            AcquireReply(
                allowed: true,
                state: .halfOpen,
                generation: 2,
                permit: Permit(generation: 2, sequence: 1),
                retryAfter: nil
            ),
            AcquireReply(allowed: false, state: .open, generation: 1, permit: nil, retryAfter: .milliseconds(29_001)),
        ]
        for reply in replies {
            let (back, _) = try roundTrip({ reply.write(id: .integer(9), into: &$0) }, AcquireReply.init(json:))
            #expect(back == reply)
        }
        let (_, closed) = try roundTrip({ replies[0].write(id: .integer(2), into: &$0) }, AcquireReply.init(json:))
        #expect(closed == (try VectorLines.expected("01-basics.jsonl", line: 9)))
        let (_, probe) = try roundTrip({ replies[1].write(id: .integer(4), into: &$0) }, AcquireReply.init(json:))
        #expect(probe == (try VectorLines.expected("02-half-open.jsonl", line: 9)))
        let rejected = AcquireReply(
            allowed: false,
            state: .halfOpen,
            generation: 2,
            permit: nil,
            retryAfter: .seconds(10)
        )
        let (_, text) = try roundTrip({ rejected.write(id: .integer(6), into: &$0) }, AcquireReply.init(json:))
        #expect(text == (try VectorLines.expected("02-half-open.jsonl", line: 13, int: 10_000)))
    }

    @Test func retryAfterIsWholeMillisecondsRoundedUpAndNeverNegative() throws {
        var w = JSONWriter()
        AcquireReply(allowed: false, state: .open, generation: 1, permit: nil, retryAfter: .microseconds(1_500))
            .write(id: nil, into: &w)
        AcquireReply(allowed: false, state: .open, generation: 1, permit: nil, retryAfter: .milliseconds(-5))
            .write(id: nil, into: &w)
        #expect(
            String(decoding: w.bytes, as: UTF8.self) == """
                {"ok":true,"allowed":false,"state":"open","generation":1,"retry_after_ms":2}
                {"ok":true,"allowed":false,"state":"open","generation":1,"retry_after_ms":0}

                """
        )
    }

    @Test(arguments: BreakerState.allCases) func everyStateIsWrittenByItsWireName(_ state: BreakerState) {
        var w = JSONWriter()
        AcquireReply(allowed: true, state: state, generation: 12_345, permit: nil, retryAfter: nil)
            .write(id: nil, into: &w)
        ReportReply(state: state, generation: 0, counted: true, reason: nil).write(id: .integer(-7), into: &w)
        #expect(
            String(decoding: w.bytes, as: UTF8.self) == """
                {"ok":true,"allowed":true,"state":"\(state.rawValue)","generation":12345}
                {"id":-7,"ok":true,"state":"\(state.rawValue)","generation":0,"counted":true}

                """
        )
    }

    @Test func acquireReplyRejectsAMalformedPermit() throws {
        let value = try JSONParser.parse(
            Array(#"{"ok":true,"allowed":true,"state":"half_open","generation":2,"permit":"x"}"#.utf8)
        )
        #expect(throws: ReplyDecodingError.self) { try AcquireReply(json: value) }
        let missing = try JSONParser.parse(Array(#"{"ok":true,"state":"closed","generation":0}"#.utf8))
        #expect(throws: ReplyDecodingError("missing 'allowed'")) { try AcquireReply(json: missing) }
    }

    @Test func reportReplies() throws {
        for reply in [
            ReportReply(state: .closed, generation: 0, counted: true, reason: nil),
            ReportReply(state: .halfOpen, generation: 2, counted: false, reason: .stalePermit),
        ] {
            let (back, _) = try roundTrip({ reply.write(id: .string("r"), into: &$0) }, ReportReply.init(json:))
            #expect(back == reply)
        }
        let ignored = ReportReply(state: .closed, generation: 0, counted: false, reason: .ignoredOutcome)
        let (_, text) = try roundTrip({ ignored.write(id: .integer(4), into: &$0) }, ReportReply.init(json:))
        #expect(text == (try VectorLines.expected("01-basics.jsonl", line: 13)))
    }

    @Test func helloReplies() throws {
        let reply = HelloReply(server: "breakerd", version: "0.1.0", protocolVersion: 1, role: .admin)
        let (back, text) = try roundTrip({ reply.write(id: .string("h"), into: &$0) }, HelloReply.init(json:))
        #expect(back == reply)
        #expect(text == (try VectorLines.expected("01-basics.jsonl", line: 7, string: "0.1.0")))
        let client = HelloReply(server: "breakerd", version: "9", protocolVersion: 1, role: .client)
        #expect(try roundTrip({ client.write(id: nil, into: &$0) }, HelloReply.init(json:)).0 == client)
        let odd = try JSONParser.parse(
            Array(#"{"ok":true,"server":"b","version":"1","protocol":1,"role":"root"}"#.utf8)
        )
        #expect(throws: ReplyDecodingError("unknown role \"root\"")) { try HelloReply(json: odd) }
    }

    @Test func breakerReplies() throws {
        for info in [Self.info, Self.halfOpen] {
            let reply = BreakerReply(breaker: info)
            let (back, _) = try roundTrip({ reply.write(id: .integer(1), into: &$0) }, BreakerReply.init(json:))
            #expect(back == reply)
        }
        let policy = try BreakerPolicy(failureThreshold: Fraction(10, 20), successThreshold: Fraction(3, 3))
        let status = BreakerInfo(
            resource: "db",
            state: .closed,
            generation: 0,
            policy: policy,
            windowCalls: 6,
            windowFailures: 2,
            retryAfterMs: nil,
            forced: nil,
            halfOpen: nil,
            changedAtMs: 1_764_000_000_123
        )
        let (_, text) = try roundTrip(
            { BreakerReply(breaker: status).write(id: .integer(6), into: &$0) },
            BreakerReply.init(json:)
        )
        #expect(text == (try VectorLines.expected("01-basics.jsonl", line: 18, int: 1_764_000_000_123)))
    }

    @Test func listReplies() throws {
        let reply = ListReply(breakers: [Self.halfOpen, Self.info])
        #expect(try roundTrip({ reply.write(id: .integer(3), into: &$0) }, ListReply.init(json:)).0 == reply)
        let empty = ListReply(breakers: [])
        let (back, text) = try roundTrip({ empty.write(id: nil, into: &$0) }, ListReply.init(json:))
        #expect(back == empty && text == "{\"ok\":true,\"breakers\":[]}\n")
        let cache = BreakerInfo(
            resource: "cache",
            state: .closed,
            generation: 0,
            policy: try BreakerPolicy(failureThreshold: Fraction(2, 5)),
            windowCalls: 0,
            windowFailures: 0,
            retryAfterMs: nil,
            forced: nil,
            halfOpen: nil,
            changedAtMs: 42
        )
        let (_, vector) = try roundTrip(
            { ListReply(breakers: [cache]).write(id: .integer(8), into: &$0) },
            ListReply.init(json:)
        )
        #expect(vector == (try VectorLines.expected("01-basics.jsonl", line: 22, int: 42)))
    }

    @Test func historyReplies() throws {
        let records = [
            TransitionRecord(from: .forcedClosed, to: .closed, cause: .reset, generation: 4, atMs: 77, by: "oncall"),
            TransitionRecord(from: .closed, to: .forcedClosed, cause: .forced, generation: 3, atMs: 77, by: "oncall"),
            TransitionRecord(from: .forcedOpen, to: .closed, cause: .released, generation: 2, atMs: 77, by: "oncall"),
            TransitionRecord(
                from: .closed,
                to: .forcedOpen,
                cause: .forced,
                generation: 1,
                atMs: 77,
                by: "oncall",
                reason: "provider outage"
            ),
        ]
        let reply = HistoryReply(transitions: records)
        let (back, text) = try roundTrip({ reply.write(id: .integer(10), into: &$0) }, HistoryReply.init(json:))
        #expect(back == reply)
        #expect(text == (try VectorLines.expected("03-operators.jsonl", line: 23, int: 77)))
        let trip = HistoryReply(transitions: [
            TransitionRecord(from: .closed, to: .open, cause: .failureThreshold, generation: 1, atMs: 5)
        ])
        #expect(try roundTrip({ trip.write(id: nil, into: &$0) }, HistoryReply.init(json:)).0 == trip)
    }

    @Test func statsReplies() throws {
        let stats = StatsReply(
            uptimeMs: 12_981,
            connections: 2,
            connectionsTotal: 5,
            watchers: 1,
            breakers: .init(total: 3, byState: [.closed: 2, .forcedOpen: 1]),
            operations: [.acquire: 10, .report: 7, .stats: 1],
            errors: 3,
            transitions: 4,
            rejectedConnections: 6,
            slowConsumerDisconnects: 8,
            snapshot: .init(atMs: 1_764_000_000_000, durationMs: 12, rows: 3, count: 2, failures: 1),
            commits: 11,
            commitFailures: 12
        )
        let (back, text) = try roundTrip({ stats.write(id: .integer(9), into: &$0) }, StatsReply.init(json:))
        #expect(back == stats)
        #expect(back.count(of: .ping) == 0 && back.count(of: .acquire) == 10 && back.breakers.count(in: .open) == 0)
        #expect(
            text == """
                {"id":9,"ok":true,"stats":{"uptime_ms":12981,"connections":2,"connections_total":5,"watchers":1,\
                "breakers":{"total":3,"closed":2,"open":0,"half_open":0,"forced_open":1,"forced_closed":0},\
                "ops":{"ping":0,"hello":0,"acquire":10,"report":7,"status":0,"list":0,"configure":0,"force":0,\
                "release":0,"reset":0,"delete":0,"watch":0,"unwatch":0,"history":0,"stats":1,"lease":0,"cluster":0},\
                "errors":3,\
                "transitions":4,"rejected_connections":6,"slow_consumer_disconnects":8,\
                "snapshot":{"at_ms":1764000000000,"duration_ms":12,"rows":3,"count":2,"failures":1},\
                "commits":11,"commit_failures":12}}

                """
        )
        let fresh = StatsReply()
        let (empty, emptyText) = try roundTrip({ fresh.write(id: nil, into: &$0) }, StatsReply.init(json:))
        #expect(empty == fresh && emptyText.contains(#""snapshot":{"at_ms":null,"#))
        #expect(StatsReply(operations: [.ping: 0]) == StatsReply(), "zero counts are left out")
    }

    @Test func statsWithoutTheAdditiveFieldsStillDecode() throws {
        // PROTOCOL.md: a server without a database leaves out snapshot, commits and commit_failures; a newer one
        // may add members and operations.
        let line = #"""
            {"ok":true,"stats":{"uptime_ms":1,"connections":1,"connections_total":1,"watchers":0,\#
            "breakers":{"total":0,"closed":0,"open":0,"half_open":0,"forced_open":0,"forced_closed":0},\#
            "ops":{"ping":2,"teleport":5},"errors":0,"transitions":0,"rejected_connections":0,\#
            "slow_consumer_disconnects":0,"leases":3}}
            """#
        let stats = try StatsReply(json: try JSONParser.parse(Array(line.utf8)))
        #expect(stats == StatsReply(uptimeMs: 1, connections: 1, connectionsTotal: 1, operations: [.ping: 2]))
    }

    @Test func successAndErrorReplies() throws {
        var w = JSONWriter()
        Reply.success(id: .integer(1), into: &w)
        #expect(String(decoding: w.bytes, as: UTF8.self) == (try VectorLines.expected("01-basics.jsonl", line: 5)))

        let ghost = ProtocolError(.notFound, #"no breaker named "ghost""#)
        let (back, text) = try roundTrip({ Reply.error(id: .integer(7), ghost, into: &$0) }, ProtocolError.init(json:))
        #expect(back == ghost)
        #expect(text == (try VectorLines.expected("05-errors.jsonl", line: 21)))
        let future = ProtocolError(ErrorCode(rawValue: "lease_expired"), "the lease ended")
        let (unknown, _) = try roundTrip({ Reply.error(id: nil, future, into: &$0) }, ProtocolError.init(json:))
        #expect(unknown.code == ErrorCode(rawValue: "lease_expired") && unknown.message == "the lease ended")
        #expect(throws: ReplyDecodingError.self) {
            try ProtocolError(json: try JSONParser.parse(Array(#"{"ok":false}"#.utf8)))
        }
    }

    @Test func eventLines() throws {
        let trip = TransitionRecord(from: .closed, to: .open, cause: .failureThreshold, generation: 1, atMs: 99)
        let events: [BreakerEvent] = [
            .transition(resource: "w/one", trip),
            .transition(
                resource: "pay",
                TransitionRecord(
                    from: .closed,
                    to: .forcedOpen,
                    cause: .forced,
                    generation: 3,
                    atMs: 1,
                    by: "oncall",
                    reason: "r"
                )
            ),
            .deleted(resource: "w/one"),
        ]
        for event in events {
            let (back, _) = try roundTrip({ event.write(into: &$0) }, BreakerEvent.init(json:))
            #expect(back == event)
        }
        var w = JSONWriter()
        events[0].write(into: &w)
        #expect(
            String(decoding: w.bytes, as: UTF8.self) == (try VectorLines.expected("04-watch.jsonl", line: 8, int: 99))
        )
        w = JSONWriter()
        events[2].write(into: &w)
        #expect(String(decoding: w.bytes, as: UTF8.self) == (try VectorLines.expected("04-watch.jsonl", line: 15)))
        let future = try JSONParser.parse(Array(#"{"event":"lease_granted","resource":"x"}"#.utf8))
        #expect(try BreakerEvent(json: future) == nil, "an event kind this version does not know is skipped")
    }
}

/// `cluster` and `not_leader` (issue #19): one writer and one reader each.
@Suite struct ClusterCodecTests {
    @Test func aClusterReplyRoundTrips() throws {
        let reply = ClusterReply(
            mode: "cluster",
            name: "prod",
            replica: "10.0.0.2:7433",
            role: "follower",
            leader: "10.0.0.1:7433",
            leaseMs: 2_000,
            replicas: [
                .init(address: "10.0.0.1:7433", role: "leader"), .init(address: "10.0.0.2:7433", role: "follower"),
            ],
            etcd: [.init(endpoint: "10.0.0.5:2379", healthy: true, version: "3.4.23", isLeader: true)]
        )
        var w = JSONWriter()
        reply.write(id: .integer(3), into: &w)
        let text = String(decoding: w.bytes, as: UTF8.self)
        #expect(text.hasPrefix(#"{"id":3,"ok":true,"mode":"cluster","name":"prod","replica":"10.0.0.2:7433""#))
        #expect(try ClusterReply(json: JSONParser.parse(w.bytes)) == reply)
        var single = JSONWriter()
        ClusterReply.single.write(id: nil, into: &single)
        #expect(String(decoding: single.bytes, as: UTF8.self) == #"{"ok":true,"mode":"single"}"# + "\n")
    }

    @Test func notLeaderCarriesTheLeader() throws {
        var w = JSONWriter()
        Reply.error(id: .integer(4), ProtocolError(.notLeader, "ask 10.0.0.1:7433", leader: "10.0.0.1:7433"), into: &w)
        let back = try ProtocolError(json: JSONParser.parse(w.bytes))
        #expect(back.code == .notLeader && back.leader == "10.0.0.1:7433")
        #expect(
            try ProtocolError(json: JSONParser.parse(Array(#"{"ok":false,"error":{"code":"x","message":"m"}}"#.utf8)))
                .leader == nil
        )
        #expect(try Request.decode(line: Array(#"{"op":"cluster","id":1}"#.utf8)).operation == .cluster)
    }
}
