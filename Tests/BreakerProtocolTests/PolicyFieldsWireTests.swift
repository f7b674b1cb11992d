import BreakerCore
import BreakerProtocol
import Testing

/// Issue #16 on the wire: the new policy fields, `slow` counts, `would_allow`, `shadow`, and the breaker
/// object's new members. Each is written, read back, and its errors name the field.
@Suite struct PolicyFieldsWireTests {
    func policy(_ text: String) throws(ProtocolError) -> BreakerPolicy { try WirePolicy.decode(text: text) }

    func policyError(_ text: String) -> ProtocolError? {
        do {
            _ = try policy(text)
            return nil
        } catch {
            return error
        }
    }

    func decode(_ text: String) throws(RequestDecodingError) -> Request { try Request.decode(line: Array(text.utf8)) }

    func requestError(_ text: String) -> ProtocolError? {
        do {
            _ = try decode(text)
            return nil
        } catch {
            return error.error
        }
    }

    func line(_ write: (inout JSONWriter) -> Void) -> String {
        var w = JSONWriter()
        write(&w)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    @Test func newPolicyFieldsAreReadAndWritten() throws {
        let p = try policy(
            #"{"failure_threshold":"5/10","cooldown_ms":2000,"slow_call_ms":250,"slow_call_threshold":"3/10","#
                + #""cooldown_max_ms":60000,"cooldown_multiplier":3,"cooldown_jitter":0.25,"mode":"shadow","#
                + #""min_failing_clients":3}"#
        )
        #expect(p.slowCall == BreakerPolicy.SlowCallRule(duration: .milliseconds(250), threshold: Fraction(3, 10)))
        #expect(p.cooldownGrowth == BreakerPolicy.CooldownGrowth(maximum: .seconds(60), multiplier: 3))
        #expect(p.cooldownJitter == 0.25 && p.mode == .shadow && p.minFailingClients == 3)
        let text = line { WirePolicy.write(p, to: &$0) }
        #expect(
            text
                == #"{"failure_threshold":"5/10","success_threshold":null,"cooldown_ms":2000,"#
                + #""window":{"type":"count","size":10},"minimum_calls":10,"half_open_permits":10,"#
                + #""permit_ttl_ms":10000,"slow_call_ms":250,"slow_call_threshold":"3/10","cooldown_max_ms":60000,"#
                + #""cooldown_multiplier":3.0,"cooldown_jitter":0.25,"mode":"shadow","min_failing_clients":3}"#
        )
        let growthOnly = try policy(#"{"failure_threshold":"1/2","cooldown_ms":1000,"cooldown_max_ms":9000}"#)
        #expect(growthOnly.cooldownGrowth?.multiplier == BreakerPolicy.defaultCooldownMultiplier)
        #expect(
            line { WirePolicy.write(growthOnly, to: &$0) }.contains(
                #""cooldown_max_ms":9000,"cooldown_multiplier":2.0,"#
            )
        )
        #expect(try policy(#"{"failure_threshold":"1/2","mode":null,"cooldown_jitter":null}"#).mode == .enforce)
    }

    @Test func badNewFieldsAreInvalidPolicyNamingTheField() {
        let cases: [(String, String)] = [
            (#""cooldown_multiplier":2"#, "policy.cooldown_multiplier: cooldown_multiplier needs cooldown_max_ms"),
            (#""cooldown_max_ms":60000,"cooldown_multiplier":10.5"#, "policy.cooldown_multiplier: must be from 1.0"),
            (#""cooldown_max_ms":60000,"cooldown_multiplier":0.5"#, "policy.cooldown_multiplier: must be from 1.0"),
            (#""cooldown_max_ms":60000,"cooldown_multiplier":"2""#, "policy.cooldown_multiplier must be a number"),
            (#""cooldown_max_ms":100"#, "policy.cooldown_max_ms: must be at least cooldown_ms"),
            (#""cooldown_max_ms":1.5"#, "policy.cooldown_max_ms must be a whole number"),
            (#""cooldown_jitter":1.01"#, "policy.cooldown_jitter: must be from 0 to 1"),
            (#""cooldown_jitter":-0.1"#, "policy.cooldown_jitter: must be from 0 to 1"),
            (#""cooldown_jitter":true"#, "policy.cooldown_jitter must be a number"),
            (#""mode":"dry-run""#, #"policy.mode must be "enforce" or "shadow", got "dry-run""#),
            (#""mode":1"#, #"policy.mode must be "enforce" or "shadow", got a number"#),
            (#""min_failing_clients":0"#, "policy.min_failing_clients: must be 1 to 1000"),
            (#""min_failing_clients":1001"#, "policy.min_failing_clients: must be 1 to 1000"),
            (#""slow_call_ms":0,"slow_call_threshold":"1/2""#, "policy.slow_call_ms: must be more than 0"),
            (#""slow_call_ms":100,"slow_call_threshold":"3/2""#, "policy.slow_call_threshold: 3/2 must be k/n"),
            (#""slow_call_ms":100,"slow_call_threshold":"half""#, "policy.slow_call_threshold must be \"k/n\""),
            (#""slow_call_ms":100"#, "policy.slow_call_threshold was not given, and its default, no slow-call rule"),
            (#""slow_call_threshold":"1/2""#, "policy.slow_call_ms was not given, and its default, no slow-call rule"),
        ]
        for (fields, message) in cases {
            let error = policyError(#"{"failure_threshold":"1/2","cooldown_ms":1000,"# + fields + "}")
            #expect(error?.code == .invalidPolicy, "\(fields)")
            #expect(error?.message.hasPrefix(message) == true, "\(fields): \(error?.message ?? "accepted")")
        }
    }

    @Test func countReportsAndLeaseEntriesCarrySlow() throws {
        #expect(
            try decode(#"{"op":"report","resource":"db","successes":5,"failures":2,"slow":7}"#).operation
                == .report(
                    resource: "db",
                    kind: .batch(successes: 5, failures: 2, slow: 7),
                    policy: nil,
                    durationMs: nil,
                    noreply: false
                )
        )
        #expect(
            requestError(#"{"op":"report","resource":"db","successes":5,"failures":2,"slow":8}"#)?.message
                == "field 'slow' is 8, more than the 7 outcomes reported (successes + failures): it counts how many "
                + "of them were slow"
        )
        #expect(
            requestError(#"{"op":"report","resource":"db","failures":1,"slow":-1}"#)?.message
                == "field 'slow' must be from 0 to 2147483647, got -1"
        )
        let withOutcome = requestError(#"{"op":"report","resource":"db","outcome":"success","slow":1}"#)
        #expect(withOutcome?.code == .badRequest && withOutcome?.message.hasPrefix("field 'slow' goes with") == true)
        #expect(requestError(#"{"op":"report","resource":"db","outcome":"success","slow":null}"#) == nil)
        let request = Request(
            .report(
                resource: "db",
                kind: .batch(successes: 3, failures: 1, slow: 2),
                policy: nil,
                durationMs: nil,
                noreply: false
            )
        )
        let written = line { request.write(into: &$0) }
        #expect(written == #"{"op":"report","resource":"db","successes":3,"failures":1,"slow":2}"# + "\n")
        #expect(try decode(String(written.dropLast())) == request)

        guard
            case .lease(let entries) = try decode(
                #"{"op":"lease","resources":[{"resource":"a","successes":2,"failures":1,"slow":3},"#
                    + #"{"resource":"b","failures":1,"slow":2},{"resource":"c","slow":0}]}"#
            ).operation
        else {
            Issue.record("not a lease")
            return
        }
        #expect(entries[0] == .lease(resource: "a", successes: 2, failures: 1, slow: 3, policy: nil))
        guard case .invalid("b", let error) = entries[1] else {
            Issue.record("entry b: \(entries[1])")
            return
        }
        #expect(error.code == .badRequest && error.message.hasPrefix("field 'slow' is 2, more than the 1 outcomes"))
        #expect(entries[2] == .lease("c"))
        let lease = Request(.lease(entries: [.lease(resource: "a", successes: 2, failures: 1, slow: 3, policy: nil)]))
        let leaseLine = line { lease.write(into: &$0) }
        #expect(
            leaseLine == #"{"op":"lease","resources":[{"resource":"a","successes":2,"failures":1,"slow":3}]}"# + "\n"
        )
        #expect(try decode(String(leaseLine.dropLast())) == lease)
    }

    @Test func wouldAllowIsWrittenOnlyWhenFalse() throws {
        let shadow = AcquireReply(
            allowed: true,
            state: .open,
            generation: 1,
            permit: nil,
            retryAfter: nil,
            wouldAllow: false
        )
        let text = line { shadow.write(id: .integer(4), into: &$0) }
        #expect(text == #"{"id":4,"ok":true,"allowed":true,"state":"open","generation":1,"would_allow":false}"# + "\n")
        #expect(try AcquireReply(json: JSONParser.parse(Array(text.utf8.dropLast()))) == shadow)
        let plain = AcquireReply(allowed: true, state: .closed, generation: 0, permit: nil, retryAfter: nil)
        #expect(!line { plain.write(id: nil, into: &$0) }.contains("would_allow"))

        let reply = LeaseReply(leases: [
            .lease(
                .init(
                    resource: "trial",
                    state: .forcedOpen,
                    generation: 3,
                    lease: .seconds(1),
                    retryAfter: nil,
                    wouldAllow: false
                )
            ),
            .lease(.init(resource: "db", state: .closed, generation: 0, lease: .seconds(1), retryAfter: nil)),
        ])
        let leaseText = line { reply.write(id: nil, into: &$0) }
        #expect(
            leaseText
                == #"{"ok":true,"leases":[{"resource":"trial","state":"forced_open","generation":3,"lease_ms":1000,"#
                + #""would_allow":false},{"resource":"db","state":"closed","generation":0,"lease_ms":1000}]}"# + "\n"
        )
        #expect(try LeaseReply(json: JSONParser.parse(Array(leaseText.utf8.dropLast()))) == reply)
    }

    @Test func shadowTransitionsSaySo() throws {
        let record = TransitionRecord(
            from: .closed,
            to: .open,
            cause: .slowCallThreshold,
            generation: 1,
            atMs: 9,
            shadow: true
        )
        let event = BreakerEvent.transition(resource: "db", record)
        let text = line { event.write(into: &$0) }
        #expect(
            text
                == #"{"event":"transition","resource":"db","from":"closed","to":"open","cause":"slow_call_threshold","#
                + #""generation":1,"at_ms":9,"shadow":true}"# + "\n"
        )
        #expect(try BreakerEvent(json: JSONParser.parse(Array(text.utf8.dropLast()))) == event)
        var plain = record
        plain.shadow = false
        #expect(!line { BreakerEvent.transition(resource: "db", plain).write(into: &$0) }.contains("shadow"))
    }

    @Test func theBreakerObjectShowsTheCurrentCooldownAndTheWindowsNewCounts() throws {
        let policy = try BreakerPolicy(
            failureThreshold: Fraction(2, 4),
            cooldown: .seconds(1),
            slowCallDuration: .milliseconds(100),
            slowCallThreshold: Fraction(2, 4),
            cooldownMaximum: .seconds(8),
            minFailingClients: 2
        )
        let info = BreakerInfo(
            resource: "db",
            state: .open,
            generation: 5,
            policy: policy,
            windowCalls: 4,
            windowFailures: 2,
            retryAfterMs: 3_500,
            forced: nil,
            halfOpen: nil,
            changedAtMs: 11,
            windowSlow: 1,
            windowFailingClients: 2,
            cooldownCurrentMs: 4_000
        )
        let text = line { info.write(to: &$0) }
        #expect(
            text.contains(
                #""window":{"calls":4,"failures":2,"slow":1,"failing_clients":2},"cooldown_ms_current":4000,"#
                    + #""retry_after_ms":3500"#
            )
        )
        #expect(try BreakerInfo(json: JSONParser.parse(Array(text.utf8))) == info)
        // A breaker object of a server before 0.3.0 lacks them: the defaults.
        let old = try BreakerInfo(
            json: JSONParser.parse(
                Array(
                    (#"{"resource":"db","state":"closed","generation":0,"policy":{"failure_threshold":"2/4","#
                        + #""cooldown_ms":7000},"window":{"calls":0,"failures":0},"changed_at_ms":1}"#).utf8
                )
            )
        )
        #expect(old.cooldownCurrentMs == 7_000 && old.windowSlow == 0 && old.windowFailingClients == 0)
    }

    @Test func theFastPathLeavesSlowToTheGeneralDecoder() throws {
        let text = #"{"op":"report","resource":"db","outcome":"success","duration_ms":900,"slow":1}"#
        let fast = Array(text.utf8).withUnsafeBytes { Request.decodeFast(line: $0) }
        #expect(fast == nil)
        let withDuration = #"{"op":"report","resource":"db","outcome":"success","duration_ms":900}"#
        let both = Array(withDuration.utf8).withUnsafeBytes {
            (Request.decodeFast(line: $0), try? Request.decodeGeneral(line: $0))
        }
        #expect(both.0 != nil && both.0 == both.1)
    }
}
