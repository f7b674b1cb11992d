import BreakerCore
import BreakerStore
import Foundation
import Testing

/// A stored breaker that cannot be read refuses the load (naming the file and the breaker, saying how to
/// recover) instead of being skipped and later overwritten; `dropUnreadableRows()` removes exactly those rows.
@Suite struct UnreadableRowTests {
    static let policy = "v=1;f=2/5;c=7000;w=count:5;m=5;p=5;t=10000"

    /// A store file with two readable breakers (one forced), each with an audit-log record.
    static func storeWithGoodRows(_ f: BreakerStoreTests.TempFile) throws -> [PersistedBreaker] {
        let p = try #require(BreakerPolicy(encoded: policy))
        let good = [
            PersistedBreaker(
                resource: "good",
                policy: p,
                state: .closed,
                generation: 1,
                nextPermitSequence: 1,
                openUntilMs: nil,
                forced: nil,
                changedAtMs: 1,
                window: "c:SSF",
                savedAtMs: 2
            ),
            PersistedBreaker(
                resource: "held",
                policy: p,
                state: .forcedOpen,
                generation: 2,
                nextPermitSequence: 1,
                openUntilMs: nil,
                forced: PersistedBreaker.Forced(target: .open, reason: "maint", by: "ops", untilMs: nil),
                changedAtMs: 1,
                window: "c:",
                savedAtMs: 2
            ),
        ]
        let store = try BreakerStore(path: f.path)
        let t = TransitionRecord(from: .closed, to: .forcedOpen, cause: .forced, generation: 2, atMs: 1)
        try store.apply(good.map { .save($0, transitions: [t]) })
        return good
    }

    /// Inserts a breaker row (and one audit-log record for it) with raw SQL; `resource` and the others are SQL.
    static func insert(
        _ path: String,
        resource: String,
        policy: String = "'\(policy)'",
        state: String = "'closed'",
        forced: String = "NULL",
        window: String = "'c:'"
    ) throws {
        try MigrationTests.execute(
            path,
            """
            INSERT INTO breakers VALUES (\(resource), \(policy), \(state), 1, 1, NULL, \(forced), NULL, NULL, NULL,
                1, \(window), 1, NULL, NULL);
            INSERT INTO transitions VALUES (\(resource), 1, 'closed', 'open', 'failure_threshold', 1, NULL, NULL, 0);
            """
        )
    }

    @Test func everyKindOfUnreadableRowIsNamedThenDroppedExactly() throws {
        let f = try BreakerStoreTests.TempFile()
        let good = try Self.storeWithGoodRows(f)
        try Self.insert(f.path, resource: "'bad-policy'", policy: "'v=1;f=9/2'")
        try Self.insert(f.path, resource: "'no-policy'", policy: "'not a policy'")
        try Self.insert(f.path, resource: "'bad-state'", state: "'sideways'")
        try Self.insert(f.path, resource: "'bad-force'", state: "'forced_open'", forced: "'ajar'")
        try Self.insert(f.path, resource: "'force-missing'", state: "'forced_closed'")
        try Self.insert(f.path, resource: "'force-crossed'", state: "'forced_open'", forced: "'closed'")
        try Self.insert(f.path, resource: "'force-stray'", state: "'closed'", forced: "'open'")
        try Self.insert(f.path, resource: "'window-shape'", window: "'t:0,1,0'")
        try Self.insert(f.path, resource: "'window-garbage'", window: "'c:SXF'")
        try Self.insert(f.path, resource: "CAST(X'FF41' AS TEXT)")
        let bad: Set = [
            "bad-policy", "no-policy", "bad-state", "bad-force", "force-missing", "force-crossed", "force-stray",
            "window-shape", "window-garbage", "\u{FFFD}A",
        ]

        let store = try BreakerStore(path: f.path)
        #expect {
            _ = try store.loadBreakers()
        } throws: { error in
            guard let error = error as? StoreError, error.kind == .unreadableRows else { return false }
            let m = error.message
            return m.contains(f.path) && m.contains("10 stored breakers cannot be read")
                && bad.allSatisfy { m.contains(String(reflecting: $0)) } && !m.contains("more)")
                && m.contains("breakerd --db \(f.path) --drop-unreadable") && !m.contains("\"good\"")
                // A name that is not plain gets no SQL to paste.
                && !m.contains("sqlite3")
        }

        #expect(Set(try store.dropUnreadableRows()) == bad)
        let (rows, skipped) = try store.loadBreakers()
        #expect(Set(rows) == Set(good) && skipped.isEmpty, "the readable rows are exactly as they were")
        #expect(Set(try store.loadTransitions().keys) == ["good", "held"], "the dropped breakers' logs went too")
        #expect(try store.dropUnreadableRows() == [], "nothing left to drop")
    }

    @Test func manyAreCountedAndTheSQLGivenRemovesAFewPlainOnes() throws {
        let f = try BreakerStoreTests.TempFile()
        _ = try Self.storeWithGoodRows(f)
        for i in 0..<25 { try Self.insert(f.path, resource: "'bad-\(i)'", state: "'??'") }
        do {
            let store = try BreakerStore(path: f.path)
            #expect {
                _ = try store.loadBreakers()
            } throws: { error in
                let m = "\(error)"
                return m.contains("25 stored breakers") && m.contains("and 15 more)") && !m.contains("sqlite3")
                    && m.components(separatedBy: "\"bad-").count - 1 == 10
            }
        }
        let f2 = try BreakerStoreTests.TempFile()
        _ = try Self.storeWithGoodRows(f2)
        try Self.insert(f2.path, resource: "'api/v1:x@y'", state: "'??'")
        try Self.insert(f2.path, resource: "'b-2'", window: "'t:'")
        var sql = ""
        do {
            let store = try BreakerStore(path: f2.path)
            do {
                _ = try store.loadBreakers()
                Issue.record("the load should have been refused")
            } catch {
                let m = error.message
                #expect(m.contains("2 stored breakers cannot be read") && m.contains(#"sqlite3 \#(f2.path) ""#))
                let start = try #require(m.range(of: "\"DELETE"))
                let end = try #require(m.range(of: "\"", range: start.upperBound..<m.endIndex))
                sql = String(m[m.index(after: start.lowerBound)..<end.lowerBound])
            }
        }
        // The command the message gives does what it says.
        try MigrationTests.execute(f2.path, sql)
        let store = try BreakerStore(path: f2.path)
        #expect(Set(try store.loadBreakers().breakers.map(\.resource)) == ["good", "held"])
        #expect(Set(try store.loadTransitions().keys) == ["good", "held"])
    }

    @Test func theShellWordForAnOddPathIsQuoted() throws {
        let f = try BreakerStoreTests.TempFile()
        let odd = f.dir + "/it's here.sqlite"
        do {
            let store = try BreakerStore(path: odd)
            try store.apply([])
        }
        try Self.insert(odd, resource: "'x'", state: "'??'")
        let store = try BreakerStore(path: odd)
        #expect {
            _ = try store.loadBreakers()
        } throws: { error in
            "\(error)".contains("breakerd --db '\(f.dir)/it'\\''s here.sqlite' --drop-unreadable")
        }
    }
}
