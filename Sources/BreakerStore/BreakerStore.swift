import BreakerCore
import CBreakerSystem
import CSQLite

#if canImport(Glibc)
import Glibc
#endif

/// The SQLite file behind `breakerd`: breakers, their audit log, and metadata.
///
/// Opening takes an exclusive lock so that one `breakerd` writes the file, checks it read-only (a SQLite
/// database, not corrupt, a schema this version knows; a refused file is left exactly as it was), then opens it
/// for writing and migrates the schema (`PRAGMA user_version`). WAL mode, `synchronous=FULL`, `busy_timeout`
/// 5000 ms; every write is one `BEGIN IMMEDIATE` transaction. Other threads read audit logs through a
/// `HistoryReader` (`makeHistoryReader()`), with a connection of their own.
///
/// `@unchecked Sendable`: after `init` the store is used by one thread at a time (the server's writer thread,
/// or the startup code before it starts); it holds no state that another thread reads.
public final class BreakerStore: @unchecked Sendable {
    /// The schema version this build writes and reads. 1: policies as protocol JSON. 2: policies as
    /// `BreakerPolicy.encoded`, and `forced_ttl_ms`. 3: `breakers.cooldown_current_ms` (NULL: the policy's
    /// cooldown) and `transitions.shadow` (0 or 1).
    public static let schemaVersion: Int64 = 3

    /// The path given (`:memory:` keeps nothing).
    public let path: String
    let connection: SQLiteConnection
    private var lockFD: Int32 = -1
    private var upsert: Statement!
    private var insertTransition: Statement!
    private var trimTransitions: Statement!
    var deleteBreaker: Statement!
    var deleteTransitions: Statement!
    /// Policy text by policy, across writes (breakers mostly share a few policies).
    private var policyText: [BreakerPolicy: String] = [:]

    /// Opens (or creates) the database at `path`.
    ///
    /// An existing file is checked read-only first (the SQLite header, `PRAGMA quick_check` and the schema
    /// version, through a connection that writes nothing, not even the `-shm` file), and opened for writing only
    /// when it passes: a refused start leaves the file, its `-wal` and its `-shm` exactly as they were (no
    /// checkpoint of a WAL into a damaged file, no WAL deleted).
    public init(path: String) throws(StoreError) {
        self.path = path
        let inMemory = path == ":memory:"
        if !inMemory {
            lockFD = try Self.checkAndLock(path)
            do {
                try Self.inspect(path)
            } catch {
                Self.unlock(lockFD)
                throw error
            }
        }
        do {
            connection = try SQLiteConnection(path: path)
        } catch {
            Self.unlock(lockFD)
            throw Self.classify(error, path: path)
        }
        do {
            try connection.execute("PRAGMA busy_timeout = 5000")
            let version = try connection.integer("PRAGMA user_version")
            try Self.checkVersion(version, path: path)
            if !inMemory {
                let mode = try connection.strings("PRAGMA journal_mode = WAL")
                guard mode == ["wal"] else {
                    throw StoreError(.sqlite, "database \(path): could not switch to WAL mode (got \(mode))")
                }
            }
            try connection.execute("PRAGMA synchronous = FULL")
            // Up to 64 MiB of page cache: a snapshot of 100,000 rows otherwise re-reads its pages from the file.
            try connection.execute("PRAGMA cache_size = -65536")
            try migrate(from: version)
            try prepareStatements()
        } catch let error as StoreError {
            Self.unlock(lockFD)
            throw error
        } catch let error as SQLiteError {
            Self.unlock(lockFD)
            throw Self.classify(error, path: path)
        } catch {
            Self.unlock(lockFD)
            throw StoreError(.sqlite, "database \(path): \(error)")
        }
    }

    deinit {
        upsert = nil
        insertTransition = nil
        trimTransitions = nil
        deleteBreaker = nil
        deleteTransitions = nil
        Self.unlock(lockFD)
    }

    private func prepareStatements() throws(SQLiteError) {
        upsert = try connection.prepare(
            """
            INSERT OR REPLACE INTO breakers (resource, policy, state, generation, next_permit, open_until_ms,
                forced_state, forced_reason, forced_by, forced_until_ms, changed_at_ms, window, saved_at_ms,
                forced_ttl_ms, cooldown_current_ms)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
            """
        )
        insertTransition = try connection.prepare(
            """
            INSERT OR REPLACE INTO transitions (resource, generation, from_state, to_state, cause, at_ms, by, reason,
                shadow)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
            """
        )
        trimTransitions = try connection.prepare("DELETE FROM transitions WHERE resource = ?1 AND generation <= ?2")
        deleteBreaker = try connection.prepare("DELETE FROM breakers WHERE resource = ?1")
        deleteTransitions = try connection.prepare("DELETE FROM transitions WHERE resource = ?1")
    }

    // MARK: Writing

    /// Writes `changes` in one transaction; returns after COMMIT.
    public func apply(_ changes: [StoreChange]) throws(SQLiteError) {
        try transaction { () throws(SQLiteError) in
            for change in changes {
                switch change {
                case .save(let row, let transitions):
                    try save(row)
                    for t in transitions {
                        try insertTransition.run { s in
                            s.bind(1, row.resource)
                            s.bind(2, Int64(clamping: t.generation))
                            s.bind(3, t.from.rawValue)
                            s.bind(4, t.to.rawValue)
                            s.bind(5, t.cause.rawValue)
                            s.bind(6, t.atMs)
                            s.bind(7, t.by)
                            s.bind(8, t.reason)
                            s.bind(9, Int64(t.shadow ? 1 : 0))
                        }
                    }
                    if let last = transitions.last, last.generation > UInt64(TransitionRecord.retentionLimit) {
                        try trimTransitions.run { s in
                            s.bind(1, row.resource)
                            s.bind(2, Int64(clamping: last.generation - UInt64(TransitionRecord.retentionLimit)))
                        }
                    }
                case .delete(let resource):
                    try deleteBreaker.run { $0.bind(1, resource) }
                    try deleteTransitions.run { $0.bind(1, resource) }
                }
            }
        }
    }

    /// Writes every row in one transaction (the periodic snapshot of windows).
    public func snapshot(_ rows: [PersistedBreaker]) throws(SQLiteError) {
        try transaction { () throws(SQLiteError) in
            for row in rows { try save(row) }
        }
    }

    private func save(_ row: PersistedBreaker) throws(SQLiteError) {
        let policyText: String
        if let cached = self.policyText[row.policy] {
            policyText = cached
        } else {
            policyText = row.policy.encoded
            if self.policyText.count > 1_024 { self.policyText.removeAll(keepingCapacity: true) }
            self.policyText[row.policy] = policyText
        }
        try upsert.run { s in
            s.bind(1, row.resource)
            s.bind(2, policyText)
            s.bind(3, row.state.rawValue)
            s.bind(4, Int64(clamping: row.generation))
            s.bind(5, Int64(clamping: row.nextPermitSequence))
            s.bind(6, row.openUntilMs)
            s.bind(7, row.forced?.target.rawValue)
            s.bind(8, row.forced?.reason)
            s.bind(9, row.forced?.by)
            s.bind(10, row.forced?.untilMs)
            s.bind(11, row.changedAtMs)
            s.bind(12, row.window)
            s.bind(13, row.savedAtMs)
            s.bind(14, row.forced?.ttlMs)
            s.bind(15, row.cooldownCurrentMs)
        }
    }

    func transaction(_ body: () throws(SQLiteError) -> Void) throws(SQLiteError) {
        try connection.execute("BEGIN IMMEDIATE")
        do {
            try body()
            try connection.execute("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }

    /// Moves everything from the WAL into the database file and empties the WAL (at graceful shutdown, so
    /// that the file alone is a complete copy).
    public func checkpoint() throws(SQLiteError) {
        guard path != ":memory:" else { return }
        _ = try connection.strings("PRAGMA wal_checkpoint(TRUNCATE)")
    }

    /// How many breakers are stored (for tests and stats).
    public func breakerCount() throws(SQLiteError) -> Int {
        Int(try connection.integer("SELECT count(*) FROM breakers"))
    }
}
