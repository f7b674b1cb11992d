import BreakerCore
import BreakerStore
import Foundation
import Testing

/// A database written by the previous release (Tests/fixtures/schema2-breakerd-0.2.0.sqlite, described in
/// Tests/fixtures/README.md) opens with this build: schema 2 → 3, and every breaker, policy, window, force and
/// transition is kept.
@Suite struct FixtureUpgradeTests {
    static let fixture = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures/schema2-breakerd-0.2.0.sqlite").path

    /// A copy of the fixture in a fresh directory (the fixture itself is never opened for writing).
    static func copy() throws -> BreakerStoreTests.TempFile {
        let f = try BreakerStoreTests.TempFile()
        try FileManager.default.copyItem(atPath: fixture, toPath: f.path)
        return f
    }

    /// The rows the README lists, as breakerd 0.2.0 wrote them.
    static func expectedRows() throws -> [PersistedBreaker] {
        [
            PersistedBreaker(
                resource: "count-closed",
                policy: try BreakerPolicy(
                    failureThreshold: Fraction(3, 5),
                    halfOpenPermits: 2,
                    permitTTL: .milliseconds(5_000)
                ),
                state: .closed,
                generation: 0,
                nextPermitSequence: 1,
                openUntilMs: nil,
                forced: nil,
                changedAtMs: 1_795_602_701_621,
                window: "c:SFS",
                savedAtMs: 1_795_602_702_652
            ),
            PersistedBreaker(
                resource: "count-open",
                policy: try BreakerPolicy(
                    failureThreshold: Fraction(2, 4),
                    successThreshold: Fraction(2, 2),
                    cooldown: .seconds(600)
                ),
                state: .open,
                generation: 1,
                nextPermitSequence: 1,
                openUntilMs: 1_795_603_301_621,
                forced: nil,
                changedAtMs: 1_795_602_701_620,
                window: "c:FFFF",
                savedAtMs: 1_795_602_702_652
            ),
            PersistedBreaker(
                resource: "forced",
                policy: try BreakerPolicy(failureThreshold: Fraction(3, 5)),
                state: .forcedOpen,
                generation: 1,
                nextPermitSequence: 1,
                openUntilMs: nil,
                forced: PersistedBreaker.Forced(
                    target: .open,
                    reason: "fixture: provider outage",
                    by: "admin",
                    untilMs: 1_798_194_701_621,
                    ttlMs: 2_592_000_000
                ),
                changedAtMs: 1_795_602_701_621,
                window: "c:",
                savedAtMs: 1_795_602_702_651
            ),
            PersistedBreaker(
                resource: "time-closed",
                policy: try BreakerPolicy(
                    failureThreshold: Fraction(5, 10),
                    cooldown: .seconds(45),
                    window: .time(duration: .seconds(600), buckets: 60),
                    minimumCalls: 3
                ),
                state: .closed,
                generation: 0,
                nextPermitSequence: 1,
                openUntilMs: nil,
                forced: nil,
                changedAtMs: 1_795_602_701_620,
                window: "t:0,9,2",
                savedAtMs: 1_795_602_702_651
            ),
        ]
    }

    /// The audit log the README's requests made, oldest first per breaker.
    static let expectedTransitions: [String: [TransitionRecord]] = [
        "count-open": [
            TransitionRecord(from: .closed, to: .open, cause: .failureThreshold, generation: 1, atMs: 1_795_602_701_620)
        ],
        "forced": [
            TransitionRecord(
                from: .closed,
                to: .forcedOpen,
                cause: .forced,
                generation: 1,
                atMs: 1_795_602_701_621,
                by: "admin",
                reason: "fixture: provider outage"
            )
        ],
    ]

    @Test func theFixtureIsASchema2Database() throws {
        #expect(try MigrationTests.strings(Self.fixture, "PRAGMA user_version") == ["2"])
    }

    @Test func aSchema2DatabaseOfTheLastReleaseOpensWithEverythingKept() throws {
        let f = try Self.copy()
        let store = try BreakerStore(path: f.path)
        #expect(try MigrationTests.strings(f.path, "PRAGMA user_version") == ["3"])
        let rows = try store.loadBreakers().breakers.sorted { $0.resource < $1.resource }
        #expect(rows == (try Self.expectedRows()))
        #expect(rows.allSatisfy { $0.cooldownCurrentMs == nil }, "NULL: the policy's cooldown")
        let transitions = try store.loadTransitions()
        #expect(transitions == Self.expectedTransitions)
        #expect(transitions.values.joined().allSatisfy { !$0.shadow })
        let older = try store.makeHistoryReader().transitions(resource: "forced", beforeGeneration: nil, limit: 10)
        #expect(older == Self.expectedTransitions["forced"])
        // Every row's window still fits its policy, and the policy text is what this build writes.
        for row in rows {
            #expect(OutcomeWindow.fits(row.window, shape: row.policy.window), "\(row.resource)")
        }
        let policies = try MigrationTests.strings(f.path, "SELECT policy FROM breakers ORDER BY resource")
        #expect(policies == rows.map(\.policy.encoded))
    }

    @Test func theNewColumnsAreWrittenAndReadAfterTheUpgrade() throws {
        let f = try Self.copy()
        do {
            let store = try BreakerStore(path: f.path)
            var open = try #require(try Self.expectedRows().first { $0.resource == "count-open" })
            open.policy = try BreakerPolicy(
                failureThreshold: Fraction(2, 4),
                successThreshold: Fraction(2, 2),
                cooldown: .seconds(600),
                cooldownMaximum: .seconds(3_600),
                cooldownJitter: 0.5,
                mode: .shadow
            )
            open.generation = 3
            open.cooldownCurrentMs = 1_200_000
            let records = [
                TransitionRecord(
                    from: .open,
                    to: .halfOpen,
                    cause: .cooldownElapsed,
                    generation: 2,
                    atMs: 7,
                    shadow: true
                ),
                TransitionRecord(
                    from: .halfOpen,
                    to: .open,
                    cause: .probesFailed,
                    generation: 3,
                    atMs: 8,
                    shadow: true
                ),
            ]
            try store.apply([.save(open, transitions: records)])
        }
        let store = try BreakerStore(path: f.path)
        let open = try #require(try store.loadBreakers().breakers.first { $0.resource == "count-open" })
        #expect(open.cooldownCurrentMs == 1_200_000 && open.policy.mode == .shadow)
        #expect(open.currentCooldown == .seconds(1_200) && open.longestCooldown == .seconds(1_800))
        let log = try #require(try store.loadTransitions()["count-open"])
        #expect(log.map(\.shadow) == [false, true, true] && log.map(\.generation) == [1, 2, 3])
        #expect(
            try MigrationTests.strings(f.path, "SELECT shadow FROM transitions WHERE resource = 'count-open'")
                == ["0", "1", "1"]
        )
    }

    @Test func aGrownCooldownBoundsWhatIsLeftAfterARestart() throws {
        var row = try #require(try Self.expectedRows().first { $0.resource == "count-open" })
        row.policy = try BreakerPolicy(
            failureThreshold: Fraction(2, 4),
            cooldown: .seconds(600),
            cooldownMaximum: .seconds(3_600),
            cooldownJitter: 0.25
        )
        row.cooldownCurrentMs = 2_400_000
        row.openUntilMs = 1_000_000 + 2_500_000
        // 2,500 s left of a 2,400 s cooldown with 25% jitter (at most 3,000 s): kept, not cut to 600 s.
        #expect(row.remaining(atWallMs: 1_000_000).cooldown == .seconds(2_500))
        #expect(row.remaining(atWallMs: 1_000_000).clockStepMs == 0)
        // A wall clock that stepped back cannot stretch it past the longest it can last.
        row.openUntilMs = 1_000_000 + 5_000_000
        let left = row.remaining(atWallMs: 1_000_000)
        #expect(left.cooldown == .seconds(3_000) && left.clockStepMs == 2_000_000)
        // A stored cooldown beyond the policy's maximum is held to it.
        row.cooldownCurrentMs = 99_000_000
        #expect(row.currentCooldown == .seconds(3_600))
    }
}
