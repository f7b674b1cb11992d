import BreakerCore
import BreakerStore
import Foundation
import Testing

@Suite struct BreakerStoreTests {
    final class TempFile {
        let dir = NSTemporaryDirectory() + "store-\(UUID().uuidString)"
        var path: String { dir + "/b.sqlite" }
        init() throws { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: dir) }
    }

    func row(_ name: String, generation: UInt64 = 3, forced: PersistedBreaker.Forced? = nil) throws -> PersistedBreaker
    {
        PersistedBreaker(
            resource: name,
            policy: try BreakerPolicy(
                failureThreshold: Fraction(2, 5),
                successThreshold: Fraction(1, 2),
                cooldown: .seconds(7)
            ),
            state: forced == nil ? .open : .forcedOpen,
            generation: generation,
            nextPermitSequence: 42,
            openUntilMs: forced == nil ? 1_700_000_000_000 : nil,
            forced: forced,
            changedAtMs: 1_699_999_999_000,
            window: "c:SFFSS",
            savedAtMs: 1_700_000_000_500
        )
    }

    @Test func rowsAndTransitionsRoundTrip() throws {
        let f = try TempFile()
        let forced = PersistedBreaker.Forced(
            target: .open,
            reason: "maint",
            by: "alice",
            untilMs: 1_700_000_600_000,
            ttlMs: 600_000
        )
        do {
            let store = try BreakerStore(path: f.path)
            let t = TransitionRecord(
                from: .closed,
                to: .forcedOpen,
                cause: .forced,
                generation: 1,
                atMs: 5,
                by: "alice",
                reason: "maint"
            )
            try store.apply([
                .save(try row("a", generation: 1, forced: forced), transitions: [t]),
                .save(try row("b"), transitions: []),
            ])
        }
        let reopened = try BreakerStore(path: f.path)
        let (rows, skipped) = try reopened.loadBreakers()
        #expect(skipped.isEmpty)
        #expect(Set(rows) == [try row("a", generation: 1, forced: forced), try row("b")])
        #expect(try reopened.loadTransitions()["a"]?.first?.reason == "maint")
    }

    @Test func theAuditLogKeepsTheLastThousand() throws {
        let f = try TempFile()
        let store = try BreakerStore(path: f.path)
        for g in UInt64(1)...1_205 {
            let t = TransitionRecord(from: .closed, to: .open, cause: .failureThreshold, generation: g, atMs: Int64(g))
            try store.apply([.save(try row("x", generation: g), transitions: [t])])
        }
        let log = try #require(try store.loadTransitions()["x"])
        #expect(log.count == 1_000)
        #expect(log.first?.generation == 206 && log.last?.generation == 1_205)
    }

    @Test func deleteRemovesTheBreakerAndItsLog() throws {
        let f = try TempFile()
        let store = try BreakerStore(path: f.path)
        let t = TransitionRecord(from: .closed, to: .open, cause: .failureThreshold, generation: 1, atMs: 1)
        try store.apply([.save(try row("gone"), transitions: [t]), .save(try row("kept"), transitions: [])])
        try store.apply([.delete(resource: "gone")])
        #expect(try store.loadBreakers().breakers.map(\.resource) == ["kept"])
        #expect(try store.loadTransitions()["gone"] == nil)
    }

    @Test func oneWriterPerFile() throws {
        let f = try TempFile()
        let first = try BreakerStore(path: f.path)
        #expect {
            _ = try BreakerStore(path: f.path)
        } throws: { error in
            (error as? StoreError)?.kind == .inUse && "\(error)".contains(f.path)
        }
        _ = first
    }

    @Test func snapshotWritesEveryRowInOneTransaction() throws {
        let f = try TempFile()
        let store = try BreakerStore(path: f.path)
        try store.snapshot(try (0..<2_000).map { try row("r\($0)") })
        #expect(try store.breakerCount() == 2_000)
    }

    @Test func memoryStoresNothingOnDisk() throws {
        let store = try BreakerStore(path: ":memory:")
        try store.apply([.save(try row("m"), transitions: [])])
        #expect(try store.breakerCount() == 1)
        #expect(!FileManager.default.fileExists(atPath: ":memory:"))
    }
}
