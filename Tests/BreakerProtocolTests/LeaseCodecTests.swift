import BreakerCore
import BreakerProtocol
import Testing

/// `lease`: the request's one writer and one reader (an entry that is wrong fails alone), the reply's, and the
/// breaker object's `leases`, against the bytes of protocol/vectors/08-lease.jsonl.
@Suite struct LeaseCodecTests {
    func line(_ request: Request) -> String {
        var w = JSONWriter()
        request.write(into: &w)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    func decode(_ text: String) throws(RequestDecodingError) -> Request { try Request.decode(line: Array(text.utf8)) }

    func entries(_ text: String) throws -> [LeaseEntry] {
        guard case .lease(let entries) = try decode(text).operation else {
            Issue.record("not a lease: \(text)")
            return []
        }
        return entries
    }

    func failure(_ text: String) -> ProtocolError? {
        do {
            _ = try decode(text)
            return nil
        } catch {
            return error.error
        }
    }

    /// Writes the reply, parses it, and reads it back.
    func roundTrip(_ reply: LeaseReply, id: RequestID?) throws -> (LeaseReply, String) {
        var w = JSONWriter()
        reply.write(id: id, into: &w)
        let text = String(decoding: w.bytes, as: UTF8.self)
        #expect(text.hasSuffix("}\n") && text.filter { $0 == "\n" }.count == 1, "one line: \(text)")
        return (try LeaseReply(json: try JSONParser.parse(Array(w.bytes.dropLast()))), text)
    }

    // MARK: The request

    @Test func requestsRoundTripAndTheHotLineIsShort() throws {
        let policy = try BreakerPolicy(failureThreshold: Fraction(1, 1), cooldown: .seconds(60))
        let requests = [
            Request(id: .integer(1), .lease(entries: [])),
            Request(.lease(entries: [.lease("db")])),
            Request(
                id: .string("l-2"),
                .lease(entries: [
                    .lease(resource: "db", successes: 120, failures: 3, policy: nil),
                    .lease(resource: "pay", successes: 0, failures: LeaseEntry.maximumCount, policy: policy),
                    .lease("cache"),
                ])
            ),
        ]
        for request in requests {
            var w = JSONWriter()
            request.write(into: &w)
            #expect(try Request.decode(line: w.bytes.dropLast()) == request, "\(line(request))")
        }
        #expect(
            line(requests[2]).hasPrefix(
                #"{"id":"l-2","op":"lease","resources":[{"resource":"db","successes":120,"failures":3},"#
            )
        )
        #expect(line(requests[1]) == #"{"op":"lease","resources":[{"resource":"db"}]}"# + "\n", "counts of 0 left out")
        #expect(OperationName.lease.rawValue == "lease" && !OperationName.lease.requiresAdmin, "client role")
    }

    @Test func countsAndPolicyAreReadPerEntry() throws {
        let read = try entries(
            #"{"op":"lease","resources":[{"resource":"db","successes":5,"failures":0,"note":"ignored"},"#
                + #"{"resource":"pay","failures":2147483647,"policy":{"failure_threshold":"1/1"}}]}"#
        )
        #expect(read.count == 2)
        #expect(read[0] == .lease(resource: "db", successes: 5, failures: 0, policy: nil))
        guard case .lease("pay", 0, 2_147_483_647, 0, let policy?) = read[1] else {
            Issue.record("the second entry: \(read[1])")
            return
        }
        #expect(policy.failureThreshold == Fraction(1, 1))
    }

    @Test func aWrongEntryFailsAloneWithTheCodeItsFieldWouldGet() throws {
        let read = try entries(
            #"{"op":"lease","resources":[{"resource":"ok"},{"resource":"no spaces"},{"resource":"x","failures":-1},"#
                + #"{"resource":"x","successes":2147483648},{"resource":7},"x",null,{},"#
                + #"{"resource":"p","policy":{"failure_threshold":"6/5"}},{"resource":"y","successes":1.5}]}"#
        )
        #expect(read.count == 10, "every entry has its slot")
        #expect(read[0] == .lease("ok"))
        func invalid(_ entry: LeaseEntry) -> (resource: String?, code: ErrorCode, message: String)? {
            guard case .invalid(let resource, let error) = entry else { return nil }
            return (resource, error.code, error.message)
        }
        #expect(invalid(read[1])?.code == .invalidResource && invalid(read[1])?.resource == "no spaces")
        #expect(invalid(read[2])?.message == "field 'failures' must be from 0 to 2147483647, got -1")
        #expect(invalid(read[2])?.resource == "x", "the resource is echoed when it was a string")
        #expect(invalid(read[3])?.message == "field 'successes' must be from 0 to 2147483647, got 2147483648")
        #expect(invalid(read[4])?.code == .badRequest && invalid(read[4])?.resource == nil, "not a string: left out")
        #expect(invalid(read[5])?.message.hasPrefix("each entry of 'resources' must be an object") == true)
        #expect(invalid(read[6])?.message.hasSuffix("got null") == true)
        #expect(invalid(read[7])?.message.hasPrefix("field 'resource' is required") == true)
        #expect(invalid(read[8])?.code == .invalidPolicy && invalid(read[8])?.resource == "p")
        #expect(invalid(read[9])?.message == "field 'successes' must be a whole number, got 1.5")
        #expect(read[1].resource == "no spaces" && read[4].resource == nil)
    }

    @Test func theRequestItselfIsABadRequestAtItsEdges() throws {
        func lease(_ n: Int) -> String {
            #"{"id":1,"op":"lease","resources":["#
                + (0..<n).map { #"{"resource":"r\#($0)"}"# }
                .joined(separator: ",") + "]}"
        }
        #expect(try entries(lease(Request.maximumLeaseEntries)).count == 1_000, "1,000 entries: served")
        let tooMany = failure(lease(Request.maximumLeaseEntries + 1))
        #expect(tooMany?.code == .badRequest)
        #expect(
            tooMany?.message
                == "field 'resources' has 1001 entries; at most 1000 are allowed: "
                + "send the rest in another lease request"
        )
        #expect(failure(#"{"op":"lease"}"#)?.message.hasPrefix("field 'resources' is required") == true)
        #expect(failure(#"{"op":"lease","resources":null}"#)?.code == .badRequest)
        #expect(
            failure(#"{"op":"lease","resources":"db"}"#)?.message
                == "field 'resources' must be an array of entries, got a string"
        )
        #expect(try entries(#"{"op":"lease","resources":[]}"#).isEmpty)
        let fast = Array(lease(1).utf8).withUnsafeBytes { Request.decodeFast(line: $0) }
        #expect(fast == nil, "lease goes through the general decoder")
    }

    // MARK: The reply

    static let reply = LeaseReply(leases: [
        .lease(.init(resource: "db", state: .closed, generation: 4, lease: .milliseconds(1_000), retryAfter: nil)),
        .lease(
            .init(resource: "pay", state: .open, generation: 1, lease: .zero, retryAfter: .microseconds(29_000_001))
        ),
        .lease(.init(resource: "api", state: .halfOpen, generation: 2, lease: .zero, retryAfter: nil)),
        .failed(resource: "no spaces", ProtocolError(.invalidResource, "the resource name has ' '")),
        .failed(resource: nil, ProtocolError(.badRequest, "field 'resource' must be a string, got a number")),
    ])

    @Test func repliesRoundTrip() throws {
        let (back, text) = try roundTrip(Self.reply, id: .integer(3))
        #expect(
            text == #"{"id":3,"ok":true,"leases":[{"resource":"db","state":"closed","generation":4,"lease_ms":1000},"#
                + #"{"resource":"pay","state":"open","generation":1,"lease_ms":0,"retry_after_ms":29001},"#
                + #"{"resource":"api","state":"half_open","generation":2,"lease_ms":0},"#
                + #"{"resource":"no spaces","error":{"code":"invalid_resource","#
                + #""message":"the resource name has ' '"}},"#
                + #"{"error":{"code":"bad_request","message":"field 'resource' must be a string, got a number"}}]}"#
                + "\n"
        )
        var expected = Self.reply
        if case .lease(var pay) = expected.leases[1] {
            pay.retryAfter = .milliseconds(29_001)
            expected.leases[1] = .lease(pay)
        }
        #expect(back == expected, "retry_after_ms is whole milliseconds, rounded up")
        let (empty, emptyText) = try roundTrip(LeaseReply(leases: []), id: nil)
        #expect(empty == LeaseReply(leases: []) && emptyText == #"{"ok":true,"leases":[]}"# + "\n")
    }

    @Test func theReaderIgnoresUnknownFieldsAndRefusesAMalformedSlot() throws {
        let future = try JSONParser.parse(
            Array(
                (#"{"ok":true,"leases":[{"resource":"db","state":"closed","generation":4,"lease_ms":1000,"#
                    + #""new":1}],"x":2}"#).utf8
            )
        )
        #expect(
            try LeaseReply(json: future).leases == [
                .lease(.init(resource: "db", state: .closed, generation: 4, lease: .seconds(1), retryAfter: nil))
            ]
        )
        for bad in [
            #"{"ok":true}"#, #"{"ok":true,"leases":[1]}"#, #"{"ok":true,"leases":[{"resource":"db"}]}"#,
            #"{"ok":true,"leases":[{"error":"oops"}]}"#,
        ] {
            #expect(throws: ReplyDecodingError.self, "\(bad)") {
                try LeaseReply(json: try JSONParser.parse(Array(bad.utf8)))
            }
        }
    }

    @Test func theVectorsBytes() throws {
        let first = LeaseReply(leases: [
            .lease(.init(resource: "l/db", state: .closed, generation: 0, lease: .seconds(1), retryAfter: nil)),
            .lease(.init(resource: "l/cache", state: .closed, generation: 0, lease: .seconds(1), retryAfter: nil)),
        ])
        #expect(try roundTrip(first, id: .integer(1)).1 == (try VectorLines.expected("08-lease.jsonl", line: 3)))
        let tripped = LeaseReply(leases: [
            .lease(.init(resource: "l/pay", state: .open, generation: 1, lease: .zero, retryAfter: .seconds(60)))
        ])
        #expect(try roundTrip(tripped, id: .integer(2)).1 == (try VectorLines.expected("08-lease.jsonl", line: 6)))
    }

    // MARK: The breaker object

    @Test func theBreakerObjectCarriesLeasesOnlyWhenSet() throws {
        let policy = try BreakerPolicy(failureThreshold: Fraction(2, 5))
        var info = BreakerInfo(
            resource: "db",
            state: .closed,
            generation: 0,
            policy: policy,
            windowCalls: 5,
            windowFailures: 0,
            retryAfterMs: nil,
            forced: nil,
            halfOpen: nil,
            changedAtMs: 9
        )
        func written(_ info: BreakerInfo) -> String {
            var w = JSONWriter()
            BreakerReply(breaker: info).write(id: nil, into: &w)
            return String(decoding: w.bytes, as: UTF8.self)
        }
        #expect(!written(info).contains("leases"), "left out when nil")
        info.leases = 2
        let text = written(info)
        #expect(
            text.hasSuffix(
                #""window":{"calls":5,"failures":0,"slow":0,"failing_clients":0},"cooldown_ms_current":30000,"#
                    + #""leases":2,"changed_at_ms":9}}"# + "\n"
            )
        )
        let back = try BreakerReply(json: try JSONParser.parse(Array(text.utf8.dropLast())))
        #expect(back.breaker == info)
    }
}
