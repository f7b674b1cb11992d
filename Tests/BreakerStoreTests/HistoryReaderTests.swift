import BreakerCore
import BreakerStore
import Foundation
import Synchronization
import Testing

/// `history` beyond what memory keeps: a `HistoryReader` pages through a breaker's audit log on disk while the
/// writer thread keeps writing.
@Suite struct HistoryReaderTests {
    static func row(_ name: String, generation: UInt64) throws -> PersistedBreaker {
        PersistedBreaker(
            resource: name,
            policy: try BreakerPolicy(failureThreshold: Fraction(1, 2)),
            state: .closed,
            generation: generation,
            nextPermitSequence: 1,
            openUntilMs: nil,
            forced: nil,
            changedAtMs: 1,
            window: "c:",
            savedAtMs: 2
        )
    }

    static func record(_ generation: UInt64) -> TransitionRecord {
        TransitionRecord(
            from: generation % 2 == 0 ? .open : .closed,
            to: generation % 2 == 0 ? .closed : .open,
            cause: generation % 2 == 0 ? .reset : .failureThreshold,
            generation: generation,
            atMs: Int64(generation),
            by: "w",
            reason: "g\(generation)"
        )
    }

    /// Every page of `resource`'s log, newest first, `pageSize` at a time.
    static func allPages(_ reader: HistoryReader, _ resource: String, pageSize: Int) throws -> [UInt64] {
        var generations: [UInt64] = []
        var before: UInt64? = nil
        while true {
            let page = try reader.transitions(resource: resource, beforeGeneration: before, limit: pageSize)
            #expect(page.count <= pageSize)
            generations += page.map(\.generation)
            guard page.count == pageSize, let last = page.last else { return generations }
            before = last.generation
        }
    }

    @Test func theReaderPagesThroughTheNewestThousandWhileTheWriterWrites() throws {
        let f = try BreakerStoreTests.TempFile()
        let store = try BreakerStore(path: f.path)
        let reader = try store.makeHistoryReader()
        let done = Atomic<Bool>(false)
        let finished = DispatchSemaphore(value: 0)
        let writerFailure = Mutex<String?>(nil)
        // The writer thread: 1,500 transitions of one breaker, 10 per transaction (as the server's writer
        // batches them), and a second breaker's, interleaved.
        let writer = Thread {
            do {
                for batch in 0..<150 {
                    let generations = (1...10).map { UInt64(batch * 10 + $0) }
                    let other = UInt64(batch + 1)
                    try store.apply([
                        .save(
                            try Self.row("busy", generation: generations.last!),
                            transitions: generations.map(Self.record)
                        ),
                        .save(try Self.row("other", generation: other), transitions: [Self.record(other)]),
                    ])
                }
            } catch {
                writerFailure.withLock { $0 = "\(error)" }
            }
            done.store(true, ordering: .releasing)
            finished.signal()
        }
        writer.start()

        // Meanwhile: every read is a consistent page, newest first, within what retention keeps.
        var reads = 0
        while !done.load(ordering: .acquiring) {
            let page = try reader.transitions(resource: "busy", beforeGeneration: nil, limit: 50)
            let generations = page.map(\.generation)
            #expect(generations == generations.sorted(by: >), "newest first")
            #expect(Set(generations).count == generations.count)
            if let newest = generations.first { #expect(generations.count == min(50, Int(newest))) }
            reads += 1
        }
        finished.wait()
        #expect(writerFailure.withLock { $0 } == nil)
        #expect(reads > 0)

        // Afterwards: exactly the newest 1,000 (the retention), newest first, no duplicates, in pages of 64.
        let generations = try Self.allPages(reader, "busy", pageSize: 64)
        #expect(generations == Array((501...1_500).reversed()))
        let newest = try reader.transitions(resource: "busy", beforeGeneration: nil, limit: 3)
        #expect(newest == [Self.record(1_500), Self.record(1_499), Self.record(1_498)], "every field read back")
        #expect(try reader.transitions(resource: "busy", beforeGeneration: 502, limit: 10).map(\.generation) == [501])
        #expect(try reader.transitions(resource: "busy", beforeGeneration: 501, limit: 10).isEmpty)
        #expect(try reader.transitions(resource: "busy", beforeGeneration: .max, limit: 1).map(\.generation) == [1_500])
        #expect(try reader.transitions(resource: "busy", beforeGeneration: nil, limit: 0).isEmpty)
        #expect(try reader.transitions(resource: "nobody", beforeGeneration: nil, limit: 10).isEmpty)
        #expect(try Self.allPages(reader, "other", pageSize: 7) == Array((1...150).reversed()))
    }

    @Test func restoreLoadsOnlyTheNewestFewOfEachBreaker() throws {
        let f = try BreakerStoreTests.TempFile()
        let store = try BreakerStore(path: f.path)
        for name in ["a", "b/c", "d"] {
            let count: UInt64 = name == "d" ? 2 : 30
            try store.apply([.save(try Self.row(name, generation: count), transitions: (1...count).map(Self.record))])
        }
        let log = try store.loadTransitions(newestPerResource: 5)
        let newest: [UInt64] = [26, 27, 28, 29, 30]
        #expect(log.mapValues { $0.map(\.generation) } == ["a": newest, "b/c": newest, "d": [1, 2]])
        #expect(try store.loadTransitions(newestPerResource: 0).isEmpty)
        #expect(try store.loadTransitions()["a"]?.count == 30, "by default: everything retained")
    }

    @Test func aMemoryStoreHasNoHistoryOnDisk() throws {
        let store = try BreakerStore(path: ":memory:")
        try store.apply([.save(try Self.row("m", generation: 1), transitions: [Self.record(1)])])
        let reader = try store.makeHistoryReader()
        #expect(try reader.transitions(resource: "m", beforeGeneration: nil, limit: 10).isEmpty)
    }
}
