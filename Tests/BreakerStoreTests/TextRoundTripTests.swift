import BreakerCore
import BreakerStore
import Foundation
import Testing

/// Stored text keeps every byte: a NUL or a control character in a reason or a name is not where the text ends.
@Suite struct TextRoundTripTests {
    @Test func reasonsAndNamesWithNULsComeBackWhole() throws {
        let f = try BreakerStoreTests.TempFile()
        let forced = PersistedBreaker.Forced(
            target: .closed,
            reason: "a\u{0}b\u{1}c",
            by: "x\u{0}y",
            untilMs: 1_700_000_600_000,
            ttlMs: 600_000
        )
        let row = PersistedBreaker(
            resource: "db",
            policy: try BreakerPolicy(failureThreshold: Fraction(1, 2)),
            state: .forcedClosed,
            generation: 4,
            nextPermitSequence: 1,
            openUntilMs: nil,
            forced: forced,
            changedAtMs: 1,
            window: "c:S",
            savedAtMs: 2
        )
        let records = [
            TransitionRecord(
                from: .closed,
                to: .forcedClosed,
                cause: .forced,
                generation: 4,
                atMs: 3,
                by: "x\u{0}y",
                reason: "a\u{0}b\u{1}c"
            ),
            TransitionRecord(
                from: .closed,
                to: .open,
                cause: .failureThreshold,
                generation: 3,
                atMs: 2,
                by: "",
                reason: "\u{0}"
            ),
            TransitionRecord(from: .open, to: .closed, cause: .reset, generation: 2, atMs: 1, by: "é\u{0}\u{1F600}"),
        ]
        do {
            let store = try BreakerStore(path: f.path)
            try store.apply([.save(row, transitions: records.reversed())])
        }
        let store = try BreakerStore(path: f.path)
        #expect(try store.loadBreakers().breakers == [row])
        #expect(try store.loadTransitions()["db"] == records.reversed())
        let reader = try store.makeHistoryReader()
        #expect(try reader.transitions(resource: "db", beforeGeneration: nil, limit: 10) == records)
    }

    @Test func anEmptyStringStaysEmptyAndNilStaysNil() throws {
        let f = try BreakerStoreTests.TempFile()
        let records = [
            TransitionRecord(from: .closed, to: .open, cause: .reset, generation: 1, atMs: 1, by: "", reason: nil),
            TransitionRecord(from: .open, to: .closed, cause: .reset, generation: 2, atMs: 1, by: nil, reason: ""),
        ]
        let store = try BreakerStore(path: f.path)
        let row = PersistedBreaker(
            resource: "e",
            policy: try BreakerPolicy(failureThreshold: Fraction(1, 2)),
            state: .closed,
            generation: 2,
            nextPermitSequence: 1,
            openUntilMs: nil,
            forced: nil,
            changedAtMs: 1,
            window: "c:",
            savedAtMs: 2
        )
        try store.apply([.save(row, transitions: records)])
        #expect(try store.loadTransitions()["e"] == records)
    }
}
