import BreakerCore
import BreakerProtocol
import Testing

@Suite struct WirePolicyTests {
    func roundTrip(_ policy: BreakerPolicy) throws -> BreakerPolicy {
        var w = JSONWriter()
        WirePolicy.write(policy, to: &w)
        return try WirePolicy.decode(try JSONParser.parse(w.bytes))
    }

    @Test func fullPolicyRoundTrips() throws {
        let policies = [
            try BreakerPolicy(failureThreshold: Fraction(2, 4)),
            try BreakerPolicy(
                failureThreshold: Fraction(3, 10),
                successThreshold: Fraction(2, 3),
                cooldown: .milliseconds(1_500),
                window: .time(duration: .seconds(60), buckets: 12),
                minimumCalls: 7,
                halfOpenPermits: 4,
                permitTTL: .seconds(3)
            ),
            try BreakerPolicy(
                failureThreshold: Fraction(5, 10),
                cooldown: .seconds(2),
                slowCallDuration: .milliseconds(250),
                slowCallThreshold: Fraction(3, 10),
                cooldownMaximum: .seconds(60),
                cooldownMultiplier: 1.5,
                cooldownJitter: 0.25,
                mode: .shadow,
                minFailingClients: 3
            ),
            try BreakerPolicy(failureThreshold: Fraction(1, 2), cooldownMaximum: .seconds(30), cooldownJitter: 1),
        ]
        for p in policies { #expect(try roundTrip(p) == p) }
    }

    @Test func leftOutFieldsTakeTheCoreDefaults() throws {
        let p = try WirePolicy.decode(text: #"{"failure_threshold":"2/5"}"#)
        #expect(p == (try BreakerPolicy(failureThreshold: Fraction(2, 5))))
        var w = JSONWriter()
        WirePolicy.write(p, to: &w)
        #expect(
            String(decoding: w.bytes, as: UTF8.self)
                == #"{"failure_threshold":"2/5","success_threshold":null,"cooldown_ms":30000,"window":{"type":"count","size":5},"minimum_calls":5,"half_open_permits":5,"permit_ttl_ms":10000,"cooldown_jitter":0.0,"mode":"enforce","min_failing_clients":1}"#
        )
    }
}
