import BreakerCore
import BreakerProtocol
import Testing

@Suite struct RequestDecodingTests {
    func decode(_ text: String) throws(RequestDecodingError) -> Request { try Request.decode(line: Array(text.utf8)) }

    func failure(_ text: String) -> RequestDecodingError? {
        do {
            _ = try decode(text)
            return nil
        } catch {
            return error
        }
    }

    @Test func decodesEveryOperation() throws {
        #expect(try decode(#"{"op":"ping"}"#) == Request(.ping))
        #expect(
            try decode(#"{"op":"hello","token":"t","client":"api-1","protocol":1,"extra":"ignored"}"#)
                == Request(.hello(token: "t", client: "api-1", protocolVersion: 1))
        )
        #expect(
            try decode(#"{"id":7,"op":"acquire","resource":"db"}"#)
                == Request(id: .integer(7), .acquire(resource: "db", policy: nil))
        )
        #expect(
            try decode(#"{"id":"x","op":"report","resource":"db","outcome":"failure","permit":"3.9","duration_ms":12}"#)
                == Request(
                    id: .string("x"),
                    .report(
                        resource: "db",
                        kind: .outcome(.failure, permit: Permit(generation: 3, sequence: 9)),
                        policy: nil,
                        durationMs: 12,
                        noreply: false
                    )
                )
        )
        #expect(
            try decode(#"{"op":"report","resource":"db","successes":5,"failures":2,"noreply":true}"#)
                == Request(
                    .report(
                        resource: "db",
                        kind: .batch(successes: 5, failures: 2),
                        policy: nil,
                        durationMs: nil,
                        noreply: true
                    )
                )
        )
        #expect(try decode(#"{"op":"status","resource":"a"}"#) == Request(.status(resource: "a")))
        #expect(try decode(#"{"op":"list"}"#) == Request(.list(prefix: "", after: nil, limit: 1_000)))
        #expect(try decode(#"{"op":"list","prefix":"pay"}"#) == Request(.list(prefix: "pay", after: nil, limit: 1_000)))
        #expect(
            try decode(#"{"op":"list","prefix":"pay","after":"pay-1","limit":10000}"#)
                == Request(.list(prefix: "pay", after: "pay-1", limit: 10_000))
        )
        let p = try BreakerPolicy(failureThreshold: Fraction(2, 5))
        #expect(
            try decode(#"{"op":"configure","resource":"a","policy":{"failure_threshold":"2/5"}}"#)
                == Request(.configure(resource: "a", policy: p))
        )
        #expect(
            try decode(#"{"op":"force","resource":"a","state":"open","reason":"r","ttl_ms":600000}"#)
                == Request(.force(resource: "a", target: .open, reason: "r", ttl: .seconds(600)))
        )
        #expect(try decode(#"{"op":"release","resource":"a"}"#) == Request(.release(resource: "a")))
        #expect(try decode(#"{"op":"reset","resource":"a"}"#) == Request(.reset(resource: "a")))
        #expect(try decode(#"{"op":"delete","resource":"a"}"#) == Request(.delete(resource: "a")))
        #expect(try decode(#"{"op":"watch","prefix":""}"#) == Request(.watch(prefix: "")))
        #expect(try decode(#"{"op":"unwatch"}"#) == Request(.unwatch))
        #expect(try decode(#"{"op":"history","resource":"a"}"#) == Request(.history(resource: "a", limit: 50)))
        #expect(try decode(#"{"op":"stats"}"#) == Request(.stats))
    }

    @Test(arguments: [
        ("not json", "bad_json", "not JSON"),
        ("[1,2]", "bad_request", "JSON object"),
        (#"{"id":{},"op":"ping"}"#, "bad_request", "'id'"),
        (#"{"id":"\#(String(repeating: "x", count: 65))","op":"ping"}"#, "bad_request", "'id'"),
        (#"{"resource":"a"}"#, "bad_request", "'op'"),
        (#"{"op":3}"#, "bad_request", "'op'"),
        (#"{"op":"fly"}"#, "unknown_op", "fly"),
        (#"{"op":"acquire"}"#, "bad_request", "'resource'"),
        (#"{"op":"acquire","resource":5}"#, "bad_request", "'resource'"),
        (#"{"op":"acquire","resource":""}"#, "invalid_resource", "empty"),
        (#"{"op":"acquire","resource":"a b"}"#, "invalid_resource", "' '"),
        (#"{"op":"acquire","resource":"\#(String(repeating: "a", count: 201))"}"#, "invalid_resource", "201 bytes"),
        (#"{"op":"acquire","resource":"a","policy":{}}"#, "invalid_policy", "policy.failure_threshold"),
        (
            #"{"op":"acquire","resource":"a","policy":{"failure_threshold":"0/5"}}"#, "invalid_policy",
            "policy.failure_threshold"
        ),
        (
            #"{"op":"acquire","resource":"a","policy":{"failure_threshold":"1/5","cooldown_ms":"x"}}"#,
            "invalid_policy", "policy.cooldown_ms"
        ),
        (
            #"{"op":"acquire","resource":"a","policy":{"failure_threshold":"1/5","window":{"type":"sliding"}}}"#,
            "invalid_policy", "policy.window.type"
        ),
        (
            #"{"op":"acquire","resource":"a","policy":{"failure_threshold":"1/5","minimum_calls":9}}"#,
            "invalid_policy", "policy.minimum_calls"
        ),
        (#"{"op":"report","resource":"a","outcome":"maybe"}"#, "bad_request", "'outcome'"),
        (#"{"op":"report","resource":"a"}"#, "bad_request", "'outcome'"),
        (#"{"op":"report","resource":"a","outcome":"success","successes":1}"#, "bad_request", "not both"),
        (#"{"op":"report","resource":"a","outcome":"success","permit":"abc"}"#, "bad_request", "'permit'"),
        (#"{"op":"report","resource":"a","failures":-1}"#, "bad_request", "'failures'"),
        (#"{"op":"report","resource":"a","outcome":"success","duration_ms":1.5}"#, "bad_request", "'duration_ms'"),
        (#"{"op":"report","resource":"a","outcome":"success","noreply":"yes"}"#, "bad_request", "'noreply'"),
        (#"{"op":"force","resource":"a","state":"sideways"}"#, "bad_request", "'state'"),
        (#"{"op":"force","resource":"a"}"#, "bad_request", "'state'"),
        (#"{"op":"force","resource":"a","state":"open","ttl_ms":0}"#, "bad_request", "'ttl_ms'"),
        (#"{"op":"force","resource":"a","state":"open","reason":7}"#, "bad_request", "'reason'"),
        (#"{"op":"configure","resource":"a"}"#, "bad_request", "'policy'"),
        (#"{"op":"history","resource":"a","limit":0}"#, "bad_request", "'limit'"),
        (#"{"op":"history","resource":"a","limit":1001}"#, "bad_request", "'limit'"),
        (#"{"op":"watch","prefix":"a b"}"#, "bad_request", "'prefix'"),
        (#"{"op":"hello","protocol":"1"}"#, "bad_request", "'protocol'"),
    ])
    func badInputNamesTheProblem(text: String, code: String, mention: String) throws {
        let error = try #require(failure(text))
        #expect(error.error.code.rawValue == code)
        #expect(error.error.message.contains(mention), "\(error.error.message)")
    }

    @Test func validationComesBeforeTheResource() throws {
        // Both the resource and the outcome are bad: the field error wins over nothing else, and a bad
        // policy is reported even for a resource that does not exist yet.
        let e = try #require(
            failure(#"{"op":"report","resource":"ok","outcome":"maybe","policy":{"failure_threshold":"9/1"}}"#)
        )
        #expect(e.error.code == .badRequest)
    }

    @Test func errorsKeepTheIDAndNoreply() throws {
        let e = try #require(failure(#"{"id":"r1","op":"report","resource":"a","outcome":"maybe","noreply":true}"#))
        #expect(e.id == .string("r1") && e.noreply && e.operation == .report)
        let badID = try #require(failure(#"{"id":[1],"op":"ping"}"#))
        #expect(badID.id == nil)
    }
}
