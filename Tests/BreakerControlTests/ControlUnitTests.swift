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
    @Test func issue16OptionsMakeThePolicyAndNameTheOptionAtFault() throws {
        func policy(
            slowCallMs: Int? = nil,
            slowCallThreshold: String? = nil,
            cooldown: String? = "10s",
            cooldownMax: String? = nil,
            cooldownMultiplier: Double? = nil,
            cooldownJitter: Double? = nil,
            shadow: Bool = false,
            minFailingClients: Int? = nil
        ) throws(ControlFailure) -> BreakerPolicy {
            try ControlOptions.policy(
                failureThreshold: "5/20",
                successThreshold: nil,
                cooldown: cooldown,
                window: nil,
                minCalls: nil,
                halfOpenPermits: nil,
                permitTTL: nil,
                slowCallMs: slowCallMs,
                slowCallThreshold: slowCallThreshold,
                cooldownMax: cooldownMax,
                cooldownMultiplier: cooldownMultiplier,
                cooldownJitter: cooldownJitter,
                shadow: shadow,
                minFailingClients: minFailingClients
            )
        }
        let p = try policy(
            slowCallMs: 800,
            slowCallThreshold: "10/20",
            cooldownMax: "10m",
            cooldownMultiplier: 1.5,
            cooldownJitter: 0.2,
            shadow: true,
            minFailingClients: 2
        )
        #expect(p.slowCall == .init(duration: .milliseconds(800), threshold: Fraction(10, 20)))
        #expect(p.cooldownGrowth == .init(maximum: .seconds(600), multiplier: 1.5))
        #expect(p.cooldownJitter == 0.2 && p.mode == .shadow && p.minFailingClients == 2)
        let plain = try policy()
        #expect(plain.slowCall == nil && plain.cooldownGrowth == nil && plain.cooldownJitter == 0)
        #expect(plain.mode == .enforce && plain.minFailingClients == 1)
        #expect(try policy(cooldownMax: "1m").cooldownGrowth?.multiplier == 2, "the default multiplier")

        func refused(_ option: String, _ make: () throws -> BreakerPolicy) {
            do {
                _ = try make()
                Issue.record("expected \(option) to be refused")
            } catch let error as ControlFailure {
                #expect(error.exitCode == 2 && error.message.hasPrefix(option), "\(error.message)")
            } catch {
                Issue.record("expected a ControlFailure, got \(error)")
            }
        }
        refused("--slow-call-threshold") { try policy(slowCallMs: 800) }
        refused("--slow-call-ms") { try policy(slowCallThreshold: "1/2") }
        refused("--slow-call-ms") { try policy(slowCallMs: 0, slowCallThreshold: "1/2") }
        refused("--slow-call-threshold") { try policy(slowCallMs: 5, slowCallThreshold: "half") }
        refused("--cooldown-max") { try policy(cooldownMax: "5s") }
        refused("--cooldown-max") { try policy(cooldownMax: "soon") }
        refused("--cooldown-multiplier") { try policy(cooldownMultiplier: 2) }
        refused("--cooldown-multiplier") { try policy(cooldownMax: "1m", cooldownMultiplier: 11) }
        refused("--cooldown-jitter") { try policy(cooldownJitter: 1.5) }
        refused("--min-failing-clients") { try policy(minFailingClients: 0) }
        refused("--min-failing-clients") { try policy(minFailingClients: 1_001) }
    }

    @Test func statusAndTableShowIssue16Fields() throws {
        let policy = try BreakerPolicy(
            failureThreshold: Fraction(5, 20),
            cooldown: .seconds(10),
            slowCallDuration: .milliseconds(800),
            slowCallThreshold: Fraction(10, 20),
            cooldownMaximum: .seconds(600),
            cooldownJitter: 0.2,
            mode: .shadow,
            minFailingClients: 2
        )
        let grown = BreakerInfo(
            resource: "search",
            state: .open,
            generation: 3,
            policy: policy,
            windowCalls: 20,
            windowFailures: 6,
            retryAfterMs: 15_000,
            forced: nil,
            halfOpen: nil,
            changedAtMs: 1_000_000,
            windowSlow: 4,
            windowFailingClients: 2,
            cooldownCurrentMs: 40_000
        )
        let f = ControlFormatter(color: false, nowMs: 1_000_000)
        let status = f.status(grown)
        for line in [
            "window:     20 calls, 6 failures, 4 slow, failures from 2 clients (last 20 calls)",
            "            slow calls take ≥ 800ms, trip at 10/20 slow",
            "            cooldown grows ×2 after each failed half-open, up to 10m",
            "            cooldown jitter ±20%",
            "            trip on failures only from ≥ 2 distinct clients",
            "mode:       shadow (no call is rejected; replies say would_allow:false instead)",
            "cooldown:   40s now (grown after failed half-opens)",
        ] {
            #expect(status.contains(line + "\n") || status.hasSuffix(line), "\(line) in\n\(status)")
        }

        var fresh = grown
        fresh.cooldownCurrentMs = 10_000
        fresh.policy = try BreakerPolicy(failureThreshold: Fraction(5, 20), cooldown: .seconds(10))
        let plainStatus = f.status(fresh)
        #expect(!plainStatus.contains("slow") && !plainStatus.contains("mode:") && !plainStatus.contains("cooldown:"))
        #expect(plainStatus.contains("window:     20 calls, 6 failures (last 20 calls)"))

        let table = f.table([grown, fresh]).split(separator: "\n")
        #expect(table[0].contains("FAILURES  SLOW  CLIENTS  CALLS"), "\(table[0])")
        #expect(table[1].hasPrefix("search    open (shadow)  30%       20%   2/2      20 "), "\(table[1])")
        #expect(table[1].contains("retry in 15s, cooldown 40s"))
        #expect(table[2].hasPrefix("search    open           30%       -     -        20 "), "\(table[2])")
        #expect(!f.table([fresh]).contains("SLOW"), "no slow or clients column when no breaker listed uses them")
    }
}
