import BreakerCore
import BreakerStore
import Foundation
import Testing

/// A database that cannot be used is refused without a byte of it changing: no checkpoint of a WAL into a
/// damaged file, no WAL deleted, no `-shm` rewritten.
@Suite struct RefusedStartTests {
    static let pageSize = 4_096

    static func row(_ name: String, generation: UInt64) throws -> PersistedBreaker {
        PersistedBreaker(
            resource: name,
            policy: try BreakerPolicy(failureThreshold: Fraction(2, 5)),
            state: .closed,
            generation: generation,
            nextPermitSequence: 1,
            openUntilMs: nil,
            forced: nil,
            changedAtMs: 1_000,
            window: "c:SFS",
            savedAtMs: 2_000
        )
    }

    /// Copies of a database, its `-wal` (holding frames not yet checkpointed) and its `-shm`, taken while the
    /// writer still has it open, as a crash would leave them. Rows r0…r2999 at generation 1 are in the file;
    /// r0…r19 at generation 9 only in the WAL.
    static func hotCopy(in f: BreakerStoreTests.TempFile, name: String) throws -> String {
        let store = try BreakerStore(path: f.path)
        try store.snapshot(try (0..<3_000).map { try row("r\($0)", generation: 1) })
        try store.checkpoint()
        let t = TransitionRecord(from: .closed, to: .open, cause: .failureThreshold, generation: 9, atMs: 5)
        try store.apply(try (0..<20).map { .save(try row("r\($0)", generation: 9), transitions: [t]) })
        let copy = f.dir + "/" + name
        for suffix in ["", "-wal", "-shm"] {
            try FileManager.default.copyItem(atPath: f.path + suffix, toPath: copy + suffix)
        }
        withExtendedLifetime(store) {}
        let walSize = try #require(try FileManager.default.attributesOfItem(atPath: copy + "-wal")[.size] as? Int)
        #expect(walSize > 32 + Self.pageSize, "the WAL holds frames")
        return copy
    }

    /// Overwrites every page of the main file but the first (the header and schema stay readable).
    static func damagePages(_ path: String) throws {
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        defer { try? handle.close() }
        let size = Int(try handle.seekToEnd())
        #expect(size > 10 * Self.pageSize)
        try handle.seek(toOffset: UInt64(Self.pageSize))
        try handle.write(contentsOf: Data(repeating: 0x5A, count: size - Self.pageSize))
    }

    static func contents(_ path: String) -> [String: Data?] {
        Dictionary(
            uniqueKeysWithValues: ["", "-wal", "-shm"].map { ($0, FileManager.default.contents(atPath: path + $0)) }
        )
    }

    @Test func aDamagedFileWithAHotWALIsRefusedAndLeftAsItWas() throws {
        let f = try BreakerStoreTests.TempFile()
        let copy = try Self.hotCopy(in: f, name: "damaged.sqlite")
        try Self.damagePages(copy)
        let before = Self.contents(copy)
        #expect(before.values.allSatisfy { $0 != nil })
        #expect {
            _ = try BreakerStore(path: copy)
        } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.kind == .corrupt && error.message.contains(copy) && error.message.contains("backup")
        }
        let after = Self.contents(copy)
        #expect(after[""] == before[""], "the main file is unchanged")
        #expect(after["-wal"] == before["-wal"], "the WAL is neither checkpointed nor deleted")
        #expect(after["-shm"] == before["-shm"], "the -shm is unchanged")
        // Refused again, the same way: nothing was lost by the first attempt.
        #expect(throws: StoreError.self) { _ = try BreakerStore(path: copy) }
        #expect(Self.contents(copy) == before)
    }

    @Test func withoutItsShmFileTheDamagedFileAndWALAreStillLeftAsTheyWere() throws {
        let f = try BreakerStoreTests.TempFile()
        let copy = try Self.hotCopy(in: f, name: "no-shm.sqlite")
        try FileManager.default.removeItem(atPath: copy + "-shm")
        try Self.damagePages(copy)
        let before = Self.contents(copy)
        #expect { _ = try BreakerStore(path: copy) } throws: { ($0 as? StoreError)?.kind == .corrupt }
        let after = Self.contents(copy)
        #expect(after[""] == before[""] && after["-wal"] == before["-wal"])
    }

    @Test func anUndamagedHotCopyOpensWithEverythingTheWALHeld() throws {
        let f = try BreakerStoreTests.TempFile()
        let copy = try Self.hotCopy(in: f, name: "healthy.sqlite")
        let store = try BreakerStore(path: copy)
        let rows = try store.loadBreakers().breakers
        #expect(rows.count == 3_000)
        #expect(rows.filter { $0.generation == 9 }.count == 20, "the WAL's frames were recovered")
        #expect(try store.loadTransitions()["r7"]?.map(\.generation) == [9])
    }
}
