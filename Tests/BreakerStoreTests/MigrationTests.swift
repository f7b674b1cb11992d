import BreakerCore
import BreakerStore
import CSQLite
import Foundation
import Testing

/// Databases written by older (and newer) versions of breakerd, built with raw SQL.
@Suite struct MigrationTests {
    /// Runs `sql` on the database at `path` with the bare SQLite API (no BreakerStore involved).
    static func execute(_ path: String, _ sql: String) throws {
        var db: OpaquePointer?
        defer { sqlite3_close_v2(db) }
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nil) == SQLITE_OK else {
            throw Failure("cannot open \(path)")
        }
        var message: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(db, sql, nil, nil, &message) == SQLITE_OK else {
            defer { sqlite3_free(message) }
            throw Failure(message.map { String(cString: $0) } ?? "sqlite3_exec failed")
        }
    }

    /// The text rows of a one-column query on the database at `path`.
    static func strings(_ path: String, _ sql: String) throws -> [String] {
        var db: OpaquePointer?
        defer { sqlite3_close_v2(db) }
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, nil) == SQLITE_OK else {
            throw Failure("cannot open \(path)")
        }
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK else {
            throw Failure(String(cString: sqlite3_errmsg(db)))
        }
        defer { sqlite3_finalize(statement) }
        var out: [String] = []
        while sqlite3_step(statement) == SQLITE_ROW {
            out.append(sqlite3_column_text(statement, 0).map { String(cString: $0) } ?? "NULL")
        }
        return out
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// Schema 1 exactly as BreakerStore's migration 0 → 1 creates it.
    static let schema1 = """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE breakers (
            resource TEXT PRIMARY KEY,
            policy TEXT NOT NULL,
            state TEXT NOT NULL,
            generation INTEGER NOT NULL,
            next_permit INTEGER NOT NULL,
            open_until_ms INTEGER,
            forced_state TEXT,
            forced_reason TEXT,
            forced_by TEXT,
            forced_until_ms INTEGER,
            changed_at_ms INTEGER NOT NULL,
            window TEXT NOT NULL,
            saved_at_ms INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE transitions (
            resource TEXT NOT NULL,
            generation INTEGER NOT NULL,
            from_state TEXT NOT NULL,
            to_state TEXT NOT NULL,
            cause TEXT NOT NULL,
            at_ms INTEGER NOT NULL,
            by TEXT,
            reason TEXT,
            PRIMARY KEY (resource, generation)
        ) WITHOUT ROWID;
        INSERT INTO meta (key, value) VALUES ('created_by', 'breakerd');
        PRAGMA user_version = 1;
        """

    @Test func aVersionOneDatabaseIsMigratedAndReadsBackEqual() throws {
        let f = try BreakerStoreTests.TempFile()
        // Policies as schema 1 stored them: protocol JSON, as WirePolicy.write wrote it.
        let countJSON =
            #"{"failure_threshold":"2/4","success_threshold":null,"cooldown_ms":7000,"#
            + #""window":{"type":"count","size":4},"minimum_calls":3,"half_open_permits":2,"permit_ttl_ms":10000}"#
        let timeJSON =
            #"{"failure_threshold":"10/20","success_threshold":"3/3","cooldown_ms":30000,"#
            + #""window":{"type":"time","ms":60000,"buckets":60},"minimum_calls":20,"half_open_permits":3,"#
            + #""permit_ttl_ms":5000}"#
        let sparseJSON = #"{"failure_threshold":"1/2","window":null}"#
        try Self.execute(
            f.path,
            Self.schema1 + """
                INSERT INTO breakers VALUES ('count', '\(countJSON)', 'open', 5, 9, 1700000030000, NULL, NULL, NULL,
                    NULL, 1700000000000, 'c:SFFS', 1700000000500);
                INSERT INTO breakers VALUES ('time', '\(timeJSON)', 'forced_open', 2, 1, NULL, 'open', 'maint', 'alice',
                    1700000600000, 1699999000000, 't:0,4,1;3,2,2', 1700000000500);
                INSERT INTO breakers VALUES ('sparse', '\(sparseJSON)', 'closed', 0, 1, NULL, NULL, NULL, NULL, NULL,
                    1699999000000, 'c:', 1700000000500);
                INSERT INTO breakers VALUES ('broken', 'not json', 'closed', 0, 1, NULL, NULL, NULL, NULL, NULL, 1,
                    'c:', 1);
                INSERT INTO transitions VALUES ('count', 5, 'closed', 'open', 'failure_threshold', 1700000000000, NULL,
                    NULL);
                """
        )

        let countPolicy = try BreakerPolicy(
            failureThreshold: Fraction(2, 4),
            cooldown: .seconds(7),
            window: .count(size: 4),
            minimumCalls: 3,
            halfOpenPermits: 2
        )
        let timePolicy = try BreakerPolicy(
            failureThreshold: Fraction(10, 20),
            successThreshold: Fraction(3, 3),
            window: .time(duration: .seconds(60), buckets: 60),
            permitTTL: .seconds(5)
        )
        let sparsePolicy = try BreakerPolicy(failureThreshold: Fraction(1, 2))
        let expected: Set = [
            PersistedBreaker(
                resource: "count",
                policy: countPolicy,
                state: .open,
                generation: 5,
                nextPermitSequence: 9,
                openUntilMs: 1_700_000_030_000,
                forced: nil,
                changedAtMs: 1_700_000_000_000,
                window: "c:SFFS",
                savedAtMs: 1_700_000_000_500
            ),
            PersistedBreaker(
                resource: "time",
                policy: timePolicy,
                state: .forcedOpen,
                generation: 2,
                nextPermitSequence: 1,
                openUntilMs: nil,
                forced: PersistedBreaker.Forced(
                    target: .open,
                    reason: "maint",
                    by: "alice",
                    untilMs: 1_700_000_600_000,
                    ttlMs: nil
                ),
                changedAtMs: 1_699_999_000_000,
                window: "t:0,4,1;3,2,2",
                savedAtMs: 1_700_000_000_500
            ),
            PersistedBreaker(
                resource: "sparse",
                policy: sparsePolicy,
                state: .closed,
                generation: 0,
                nextPermitSequence: 1,
                openUntilMs: nil,
                forced: nil,
                changedAtMs: 1_699_999_000_000,
                window: "c:",
                savedAtMs: 1_700_000_000_500
            ),
        ]

        do {
            let store = try BreakerStore(path: f.path)
            // A policy that was unreadable before stays unreadable: the load is refused until it is dropped.
            #expect {
                _ = try store.loadBreakers()
            } throws: { error in
                (error as? StoreError)?.kind == .unreadableRows && "\(error)".contains(#""broken""#)
            }
            #expect(try store.dropUnreadableRows() == ["broken"])
            let (rows, skipped) = try store.loadBreakers()
            #expect(Set(rows) == expected)
            #expect(skipped.isEmpty)
            #expect(
                try store.loadTransitions()["count"]
                    == [
                        TransitionRecord(
                            from: .closed,
                            to: .open,
                            cause: .failureThreshold,
                            generation: 5,
                            atMs: 1_700_000_000_000
                        )
                    ]
            )
        }
        #expect(try Self.strings(f.path, "PRAGMA user_version") == ["\(BreakerStore.schemaVersion)"])
        // The SQL conversion writes exactly what `encoded` writes for a full policy.
        let converted = try Self.strings(
            f.path,
            "SELECT policy FROM breakers WHERE resource IN ('count', 'time') ORDER BY resource"
        )
        #expect(converted == [countPolicy.encoded, timePolicy.encoded])
        #expect(try Self.strings(f.path, "SELECT policy FROM breakers WHERE resource = 'sparse'") == ["v=1;f=1/2"])

        // Opened again at the current version: nothing is migrated twice, and the new column is written and read.
        let store = try BreakerStore(path: f.path)
        #expect(Set(try store.loadBreakers().breakers) == expected)
        var time = try #require(expected.first { $0.resource == "time" })
        time.forced?.ttlMs = 600_000
        try store.apply([.save(time, transitions: [])])
        #expect(try store.loadBreakers().breakers.first { $0.resource == "time" }?.forced?.ttlMs == 600_000)
    }

    @Test func aNewDatabaseStartsAtTheCurrentVersion() throws {
        let f = try BreakerStoreTests.TempFile()
        _ = try BreakerStore(path: f.path)
        #expect(try Self.strings(f.path, "PRAGMA user_version") == ["\(BreakerStore.schemaVersion)"])
        #expect(BreakerStore.schemaVersion == 3)
    }

    @Test func aNewerSchemaIsRefused() throws {
        let f = try BreakerStoreTests.TempFile()
        try Self.execute(f.path, Self.schema1 + "PRAGMA user_version = 4;")
        #expect {
            _ = try BreakerStore(path: f.path)
        } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.kind == .newerSchema && error.message.contains(f.path)
                && error.message.contains("schema version 4") && error.message.contains("run a newer breakerd")
        }
        #expect(try Self.strings(f.path, "PRAGMA user_version") == ["4"], "left untouched")
    }
}
