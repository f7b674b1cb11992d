import BreakerCore
import BreakerProtocol
import Testing

/// `Request.write(into:)`: every operation reads back equal through `Request.decode(line:)`, and the hot
/// operations' bytes are exactly these.
@Suite struct RequestEncodingTests {
    func line(_ request: Request) -> String {
        var w = JSONWriter()
        request.write(into: &w)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    func decoded(_ request: Request) throws -> Request {
        var w = JSONWriter()
        request.write(into: &w)
        #expect(w.bytes.last == 0x0A && w.bytes.filter { $0 == 0x0A }.count == 1, "one line")
        return try Request.decode(line: w.bytes.dropLast())
    }

    @Test func everyOperationRoundTrips() throws {
        let count = try BreakerPolicy(
            failureThreshold: Fraction(2, 5),
            successThreshold: Fraction(3, 3),
            cooldown: .zero
        )
        let time = try BreakerPolicy(
            failureThreshold: Fraction(5, 20),
            cooldown: .seconds(30),
            window: .time(duration: .seconds(10), buckets: 10),
            minimumCalls: 7,
            halfOpenPermits: 2,
            permitTTL: .seconds(3)
        )
        let operations: [Request.Operation] = [
            .ping,
            .hello(token: "t0k3n", client: "checkout-1", protocolVersion: 1),
            .hello(token: nil, client: nil, protocolVersion: nil),
            .acquire(resource: "payments-db", policy: nil),
            .acquire(resource: "a.b_c:d/e@f-g", policy: time),
            .report(
                resource: "db",
                kind: .outcome(.failure, permit: Permit(generation: 3, sequence: 9)),
                policy: nil,
                durationMs: 12,
                noreply: false
            ),
            .report(
                resource: "db",
                kind: .outcome(.ignored, permit: nil),
                policy: count,
                durationMs: nil,
                noreply: true
            ),
            .report(
                resource: "db",
                kind: .batch(successes: 5, failures: 2),
                policy: nil,
                durationMs: nil,
                noreply: false
            ),
            .lease(entries: [.lease("db"), .lease(resource: "pay", successes: 120, failures: 3, policy: count)]),
            .status(resource: "db"),
            .list(prefix: "", after: nil, limit: Request.defaultListLimit),
            .list(prefix: "pay", after: "pay-7", limit: 25),
            .configure(resource: "db", policy: count),
            .configure(resource: "db", policy: time),
            .force(resource: "db", target: .open, reason: "provider \"outage\"\nINC-4711", ttl: .seconds(600)),
            .force(resource: "db", target: .closed, reason: nil, ttl: nil),
            .release(resource: "db"),
            .reset(resource: "db"),
            .delete(resource: "db"),
            .watch(prefix: ""),
            .watch(prefix: "w/"),
            .unwatch,
            .history(resource: "db", limit: 50),
            .history(resource: "db", limit: 1_000),
            .stats,
            .cluster,
        ]
        let covered = Set(operations.map(\.name))
        #expect(covered == Set(OperationName.allCases), "every operation")
        for operation in operations {
            for id in [nil, RequestID.integer(42), .string("req-1")] {
                let request = Request(id: id, operation)
                #expect(try decoded(request) == request, "\(line(request))")
            }
        }
    }

    @Test func acquireReportAndHelloBytes() {
        #expect(
            line(Request(id: .integer(7), .acquire(resource: "db", policy: nil)))
                == #"{"id":7,"op":"acquire","resource":"db"}"# + "\n"
        )
        let policy = try! BreakerPolicy(failureThreshold: Fraction(2, 5))
        #expect(
            line(Request(id: .integer(8), .acquire(resource: "db", policy: policy)))
                == #"{"id":8,"op":"acquire","resource":"db","policy":{"failure_threshold":"2/5","#
                + #""success_threshold":null,"cooldown_ms":30000,"window":{"type":"count","size":5},"#
                + #""minimum_calls":5,"half_open_permits":5,"permit_ttl_ms":10000,"cooldown_jitter":0.0,"#
                + #""mode":"enforce","min_failing_clients":1}}"# + "\n"
        )
        let report = Request.Operation.report(
            resource: "db",
            kind: .outcome(.success, permit: Permit(generation: 2, sequence: 1)),
            policy: nil,
            durationMs: 12,
            noreply: false
        )
        #expect(
            line(Request(id: .string("x"), report))
                == #"{"id":"x","op":"report","resource":"db","outcome":"success","permit":"2.1","duration_ms":12}"#
                + "\n"
        )
        let noreply = Request.Operation.report(
            resource: "db",
            kind: .outcome(.failure, permit: nil),
            policy: nil,
            durationMs: 0,
            noreply: true
        )
        #expect(
            line(Request(noreply))
                == #"{"op":"report","resource":"db","outcome":"failure","duration_ms":0,"noreply":true}"# + "\n"
        )
        let batch = Request.Operation.report(
            resource: "db",
            kind: .batch(successes: 3, failures: 1),
            policy: nil,
            durationMs: nil,
            noreply: false
        )
        #expect(
            line(Request(id: .integer(5), batch))
                == #"{"id":5,"op":"report","resource":"db","successes":3,"failures":1}"# + "\n"
        )
        #expect(
            line(Request(id: .integer(1), .hello(token: "secret", client: "svc-7", protocolVersion: 1)))
                == #"{"id":1,"op":"hello","token":"secret","client":"svc-7","protocol":1}"# + "\n"
        )
        #expect(
            line(Request(.hello(token: nil, client: "vectors", protocolVersion: 1)))
                == #"{"op":"hello","client":"vectors","protocol":1}"# + "\n"
        )
    }

    @Test func theHotLinesTakeTheFastDecoder() {
        // The client's acquire and report lines are the shape `decodeFast` accepts (no JSON tree on the server).
        for request in [
            Request(id: .integer(7), .acquire(resource: "db", policy: nil)),
            Request(
                .report(
                    resource: "db",
                    kind: .outcome(.failure, permit: Permit(generation: 1, sequence: 2)),
                    policy: nil,
                    durationMs: 3,
                    noreply: true
                )
            ),
        ] {
            var w = JSONWriter()
            request.write(into: &w)
            let bytes = Array(w.bytes.dropLast())
            #expect(bytes.withUnsafeBytes { Request.decodeFast(line: $0) } == request)
        }
    }

    @Test func aForceTTLIsWholeMillisecondsAtLeastOne() throws {
        let request = Request(.force(resource: "db", target: .open, reason: nil, ttl: .microseconds(10)))
        #expect(line(request) == #"{"op":"force","resource":"db","state":"open","ttl_ms":1}"# + "\n")
    }
}
