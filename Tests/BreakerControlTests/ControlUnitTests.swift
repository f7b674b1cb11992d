import BreakerControl
import BreakerCore
import BreakerProtocol
import Testing

@Suite struct ControlUnitTests {
    @Test func durationsAreWrittenTheWayPeopleReadThem() {
        let f = ControlFormatter(color: false, nowMs: 0)
        #expect(f.duration(ms: 850) == "850ms")
        #expect(f.duration(ms: 29_000) == "29s")
        #expect(f.duration(ms: 250_000) == "4m10s")
        #expect(f.duration(ms: 7_500_000) == "2h5m")
        #expect(f.duration(ms: 90_061_000) == "1d1h")
        #expect(f.duration(ms: 60_000) == "1m")
    }

    @Test func durationsAreParsed() {
        #expect(DurationText.parse("10m") == .seconds(600))
        #expect(DurationText.parse("1h30m") == .seconds(5_400))
        #expect(DurationText.parse("500ms") == .milliseconds(500))
        #expect(DurationText.parse("45") == .seconds(45))
        for bad in ["", "m", "10x", "1.5s", "-3s", "10m5"] { #expect(DurationText.parse(bad) == nil, "\(bad)") }
    }

    @Test func windowsAndPoliciesFromOptions() throws {
        #expect(try ControlOptions.window("20") == .count(size: 20))
        #expect(try ControlOptions.window("10s/10") == .time(duration: .seconds(10), buckets: 10))
        #expect(throws: ControlFailure.self) { try ControlOptions.window("ten") }
        let p = try ControlOptions.policy(
            failureThreshold: "2/5",
            successThreshold: "3/3",
            cooldown: "45s",
            window: "10s/10",
            minCalls: 4,
            halfOpenPermits: 2,
            permitTTL: "5s"
        )
        #expect(
            p.failureThreshold == Fraction(2, 5) && p.successThreshold == Fraction(3, 3) && p.cooldown == .seconds(45)
        )
        #expect(p.window == .time(duration: .seconds(10), buckets: 10) && p.minimumCalls == 4 && p.halfOpenPermits == 2)
        do {
            _ = try ControlOptions.policy(
                failureThreshold: "2/5",
                successThreshold: nil,
                cooldown: nil,
                window: nil,
                minCalls: 9,
                halfOpenPermits: nil,
                permitTTL: nil
            )
            Issue.record("expected a failure")
        } catch {
            #expect(error.exitCode == 2 && error.message.hasPrefix("--min-calls"))
        }
    }

    @Test func serverAddresses() throws {
        #expect(try ControlOptions.server("10.0.0.5:7433") == ("10.0.0.5", 7433))
        #expect(try ControlOptions.server("[::1]:7433") == ("::1", 7433))
        #expect(throws: ControlFailure.self) { try ControlOptions.server("nohost") }
        #expect(throws: ControlFailure.self) { try ControlOptions.server("h:99999") }
    }

    @Test func tableIsAlignedAndColouredOnlyWhenAsked() throws {
        let policy = try BreakerPolicy(failureThreshold: Fraction(2, 5))
        let rows = [
            BreakerInfo(
                resource: "payments-db",
                state: .open,
                generation: 1,
                policy: policy,
                windowCalls: 5,
                windowFailures: 3,
                retryAfterMs: 29_000,
                forced: nil,
                halfOpen: nil,
                changedAtMs: 1_000_000 - 250_000
            ),
            BreakerInfo(
                resource: "s",
                state: .forcedOpen,
                generation: 2,
                policy: policy,
                windowCalls: 0,
                windowFailures: 0,
                retryAfterMs: 600_000,
                forced: .init(state: .open, reason: "x", by: "op", remainingMs: 600_000),
                halfOpen: nil,
                changedAtMs: 1_000_000
            ),
        ]
        let plain = ControlFormatter(color: false, nowMs: 1_000_000).table(rows)
        let lines = plain.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines[1].hasPrefix("payments-db  open "))
        #expect(lines[1].contains("60%") && lines[1].contains("retry in 29s") && lines[1].hasSuffix("4m10s ago"))
        #expect(lines[2].contains("forced 10m") && lines[2].hasSuffix("just now"))
        let columns = lines.map { $0.distance(from: $0.startIndex, to: $0.range(of: "  ")!.lowerBound) }
        #expect(Set(lines.map { $0.firstRange(of: "CALLS") == nil ? $0.prefix(13).count : 13 }).count == 1)
        _ = columns
        #expect(!plain.contains("\u{1B}["))
        #expect(ControlFormatter(color: true, nowMs: 1_000_000).table(rows).contains("\u{1B}[31mopen"))
    }

    @Test func timestampsAreUTC() {
        #expect(ControlFormatter.timestamp(0) == "1970-01-01 00:00:00Z")
        #expect(ControlFormatter.timestamp(1_795_481_032_381) == "2026-11-24 00:43:52Z")
    }
}
