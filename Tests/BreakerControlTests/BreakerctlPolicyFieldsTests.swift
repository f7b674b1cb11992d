import BreakerProtocol
import BreakerTestSupport
import Foundation
import Testing

/// Issue #16's `configure` flags and the fields `status` and `list` show, with the built `breakerctl` against a
/// real `breakerd`.
@Suite struct BreakerctlPolicyFieldsTests {
    let ctl = BreakerctlTests()

    /// `configure NAME --failure-threshold 5/20 EXTRA…`, then the policy `status --json` shows.
    func configured(_ name: String, _ extra: [String], server: [String]) throws -> JSONValue {
        let r = try ctl.run(["configure", name, "--failure-threshold", "5/20", "--cooldown", "10s"] + extra + server)
        #expect(r.status == 0, "\(extra): \(r.stderr)")
        let status = try ctl.run(["status", name, "--json"] + server)
        return try #require(try JSONParser.parse(Array(status.stdout.utf8))["policy"])
    }

    @Test func eachFlagRoundTripsThroughTheServer() throws {
        let server = try ServerProcess(arguments: [])
        let s = ["--server", "127.0.0.1:\(server.port)"]

        let plain = try configured("plain", [], server: s)
        #expect(plain["mode"] == .string("enforce"))
        #expect(plain["min_failing_clients"] == .integer(1))
        #expect(plain["cooldown_jitter"]?.numberValue == 0)
        for absent in ["slow_call_ms", "slow_call_threshold", "cooldown_max_ms", "cooldown_multiplier"] {
            #expect(plain[absent] == nil, "\(absent)")
        }

        let slow = try configured("slow", ["--slow-call-ms", "800", "--slow-call-threshold", "10/20"], server: s)
        #expect(slow["slow_call_ms"] == .integer(800))
        #expect(slow["slow_call_threshold"] == .string("10/20"))

        let grows = try configured("grows", ["--cooldown-max", "10m"], server: s)
        #expect(grows["cooldown_max_ms"] == .integer(600_000))
        #expect(grows["cooldown_multiplier"]?.numberValue == 2, "the default multiplier is shown")

        let triples = try configured("triples", ["--cooldown-max", "1h", "--cooldown-multiplier", "3.5"], server: s)
        #expect(triples["cooldown_max_ms"] == .integer(3_600_000))
        #expect(triples["cooldown_multiplier"]?.numberValue == 3.5)

        let jitter = try configured("jitter", ["--cooldown-jitter", "0.25"], server: s)
        #expect(jitter["cooldown_jitter"]?.numberValue == 0.25)

        let shadow = try configured("shadow", ["--shadow"], server: s)
        #expect(shadow["mode"] == .string("shadow"))

        let quorum = try configured("quorum", ["--min-failing-clients", "3"], server: s)
        #expect(quorum["min_failing_clients"] == .integer(3))

        // Human output: status describes the rules, list marks shadow mode.
        var r = try ctl.run(["status", "slow"] + s)
        #expect(r.stdout.contains("slow calls take ≥ 800ms, trip at 10/20 slow"), "\(r.stdout)")
        #expect(r.stdout.contains("window:     0 calls, 0 failures, 0 slow (last 20 calls)"), "\(r.stdout)")
        r = try ctl.run(["status", "triples"] + s)
        #expect(r.stdout.contains("cooldown grows ×3.5 after each failed half-open, up to 1h"), "\(r.stdout)")
        r = try ctl.run(["status", "jitter"] + s)
        #expect(r.stdout.contains("cooldown jitter ±25%"), "\(r.stdout)")
        r = try ctl.run(["status", "shadow"] + s)
        #expect(r.stdout.contains("mode:       shadow"), "\(r.stdout)")
        r = try ctl.run(["status", "quorum"] + s)
        #expect(r.stdout.contains("trip on failures only from ≥ 3 distinct clients"), "\(r.stdout)")
        #expect(r.stdout.contains("failures from 0 clients"), "\(r.stdout)")
        r = try ctl.run(["list"] + s)
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.first?.contains("SLOW") == true && lines.first?.contains("CLIENTS") == true, "\(r.stdout)")
        #expect(lines.contains { $0.hasPrefix("shadow ") && $0.contains("closed (shadow)") }, "\(r.stdout)")
        #expect(lines.contains { $0.hasPrefix("quorum ") && $0.contains("0/3") }, "\(r.stdout)")
    }

    @Test func wrongValuesAreUsageErrorsNamingTheFlag() throws {
        for (args, flag) in [
            (["--slow-call-ms", "800"], "--slow-call-threshold"),
            (["--slow-call-threshold", "1/2"], "--slow-call-ms"),
            (["--cooldown-max", "5s"], "--cooldown-max"),
            (["--cooldown-multiplier", "2"], "--cooldown-multiplier"),
            (["--cooldown-max", "1m", "--cooldown-multiplier", "20"], "--cooldown-multiplier"),
            (["--cooldown-jitter", "2"], "--cooldown-jitter"),
            (["--min-failing-clients", "0"], "--min-failing-clients"),
        ] {
            let r = try ctl.run(["configure", "x", "--failure-threshold", "1/2", "--cooldown", "10s"] + args)
            #expect(r.status == 2 && r.stderr.contains(flag), "\(args): \(r.status) \(r.stderr)")
        }
    }

    @Test func statusAndListShowTheGrownCooldownSlowCallsAndFailingClients() throws {
        let server = try TestServer()
        let s = ["--server", "127.0.0.1:\(server.port)"]
        var r = try ctl.run(
            [
                "configure", "grows", "--failure-threshold", "1/1", "--success-threshold", "1/1", "--cooldown", "1s",
                "--cooldown-max", "10s",
            ] + s
        )
        #expect(r.status == 0, "\(r.stderr)")
        let c = try server.connect()
        try c.request(#"{"op":"report","resource":"grows","outcome":"failure"}"#)
        server.clock.advance(by: .seconds(1))
        let probe = try c.request(#"{"op":"acquire","resource":"grows"}"#)
        let permit = try #require(probe["permit"]?.stringValue)
        try c.request(#"{"op":"report","resource":"grows","outcome":"failure","permit":"\#(permit)"}"#)
        r = try ctl.run(["status", "grows", "--json"] + s)
        #expect(try JSONParser.parse(Array(r.stdout.utf8))["cooldown_ms_current"] == .integer(2_000), "\(r.stdout)")
        r = try ctl.run(["status", "grows"] + s)
        #expect(r.stdout.contains("cooldown:   2s now (grown after failed half-opens)"), "\(r.stdout)")
        r = try ctl.run(["list"] + s)
        #expect(r.stdout.contains("retry in 2s, cooldown 2s"), "\(r.stdout)")

        r = try ctl.run(
            [
                "configure", "slow", "--failure-threshold", "10/10", "--slow-call-ms", "500", "--slow-call-threshold",
                "5/10",
            ] + s
        )
        #expect(r.status == 0, "\(r.stderr)")
        try c.request(#"{"op":"report","resource":"slow","outcome":"success","duration_ms":499}"#)
        try c.request(#"{"op":"report","resource":"slow","outcome":"success","duration_ms":500}"#)
        try c.request(#"{"op":"report","resource":"slow","successes":3,"failures":1,"slow":2}"#)
        r = try ctl.run(["status", "slow"] + s)
        #expect(r.stdout.contains("window:     6 calls, 1 failures, 3 slow"), "\(r.stdout)")

        r = try ctl.run(["configure", "quorum", "--failure-threshold", "1/10", "--min-failing-clients", "3"] + s)
        #expect(r.status == 0, "\(r.stderr)")
        for name in ["host-a", "host-b"] {
            let client = try server.connect()
            try client.request(#"{"op":"hello","client":"\#(name)"}"#)
            try client.request(#"{"op":"report","resource":"quorum","failures":2}"#)
        }
        r = try ctl.run(["status", "quorum"] + s)
        #expect(r.stdout.contains("window:     4 calls, 4 failures, failures from 2 clients"), "\(r.stdout)")
        r = try ctl.run(["list", "--prefix", "quorum"] + s)
        #expect(r.stdout.contains("2/3"), "\(r.stdout)")
    }
}

extension JSONValue {
    /// The value as a number, integer or not, or nil.
    fileprivate var numberValue: Double? {
        switch self {
        case .integer(let i): Double(i)
        case .number(let d): d
        default: nil
        }
    }
}
