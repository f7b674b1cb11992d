import BreakerCore
import BreakerStore
import Testing

/// `PersistedBreaker.remaining(atWallMs:)`: what a restore makes of stored wall-clock deadlines (issue #21).
@Suite struct RemainingTests {
    /// The writer's wall clock when it saved the row.
    static let savedMs: Int64 = 1_700_000_000_000
    static let hourMs: Int64 = 3_600_000

    /// Opened 10 s before the save with a 30 s cooldown (20 s left), and a force set 60 s before the save with
    /// a TTL of 10 minutes (540 s left).
    static func row(ttlMs: Int64? = 600_000, openUntilMs: Int64? = savedMs + 20_000) throws -> PersistedBreaker {
        PersistedBreaker(
            resource: "r",
            policy: try BreakerPolicy(failureThreshold: Fraction(1, 2), cooldown: .seconds(30)),
            state: .forcedOpen,
            generation: 3,
            nextPermitSequence: 1,
            openUntilMs: openUntilMs,
            forced: PersistedBreaker.Forced(
                target: .open,
                reason: nil,
                by: nil,
                untilMs: savedMs + 540_000,
                ttlMs: ttlMs
            ),
            changedAtMs: savedMs - 60_000,
            window: "c:",
            savedAtMs: savedMs
        )
    }

    @Test func onTheSameClockTheDeadlinesAreKept() throws {
        let r = try Self.row().remaining(atWallMs: Self.savedMs)
        #expect(r.cooldown == .seconds(20) && r.force == .seconds(540) && r.clockStepMs == 0)
        let later = try Self.row().remaining(atWallMs: Self.savedMs + 19_999)
        #expect(later.cooldown == .milliseconds(1) && later.force == .milliseconds(520_001))
    }

    @Test func aClockAnHourBehindTheWriterCannotStretchThem() throws {
        let r = try Self.row().remaining(atWallMs: Self.savedMs - Self.hourMs)
        #expect(r.cooldown == .seconds(30), "at most the policy's cooldown")
        #expect(r.force == .seconds(600), "at most the TTL the force was set with")
        // The cooldown's deadline lay 3,620 s ahead, 3,590 s beyond its 30 s clamp (the force's, 3,540 s).
        #expect(r.clockStepMs == Self.hourMs - 10_000)
    }

    @Test func aSchemaOneForceIsClampedToThirtyDays() throws {
        let r = try Self.row(ttlMs: nil, openUntilMs: nil).remaining(atWallMs: Self.savedMs - 40 * 24 * Self.hourMs)
        #expect(r.force == BreakerPolicy.maximumDuration)
        #expect(r.clockStepMs == 40 * 24 * Self.hourMs + 540_000 - 30 * 24 * Self.hourMs)
        let near = try Self.row(ttlMs: nil).remaining(atWallMs: Self.savedMs - Self.hourMs)
        #expect(near.force == .milliseconds(Self.hourMs + 540_000), "within 30 days nothing is clamped")
    }

    @Test func aClockAnHourAheadFindsThemElapsed() throws {
        let r = try Self.row().remaining(atWallMs: Self.savedMs + Self.hourMs)
        #expect(r.cooldown == .zero && r.force == .zero && r.clockStepMs == 0)
    }

    @Test func theEdges() throws {
        let atDeadline = try Self.row().remaining(atWallMs: Self.savedMs + 20_000)
        #expect(atDeadline.cooldown == .zero, "a deadline reached counts as elapsed")
        // Exactly the clamp: nothing stepped.
        let full = try Self.row().remaining(atWallMs: Self.savedMs - 10_000)
        #expect(full.cooldown == .seconds(30) && full.clockStepMs == 0)
        let oneBeyond = try Self.row().remaining(atWallMs: Self.savedMs - 10_001)
        #expect(oneBeyond.cooldown == .seconds(30) && oneBeyond.clockStepMs == 1)
        // Extreme stored values saturate rather than overflow.
        let extreme = try Self.row(openUntilMs: .max).remaining(atWallMs: .min)
        #expect(extreme.cooldown == .seconds(30) && extreme.clockStepMs == .max - 30_000)
    }

    @Test func nothingWithoutADeadline() throws {
        var row = try Self.row(openUntilMs: nil)
        row.forced?.untilMs = nil
        let r = row.remaining(atWallMs: Self.savedMs)
        #expect(r.cooldown == nil && r.force == nil && r.clockStepMs == 0)
        row.forced = nil
        #expect(row.remaining(atWallMs: Self.savedMs).force == nil)
    }
}
