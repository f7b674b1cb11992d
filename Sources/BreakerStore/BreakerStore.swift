public import BreakerCore
import CBreakerSystem
import CSQLite

#if canImport(Glibc)
import Glibc
#endif

/// The SQLite file behind `breakerd`: breakers, their audit log, and metadata.
///
/// Opening checks the file (a SQLite database, not corrupt, a schema this version knows), takes an exclusive
/// lock so that one `breakerd` writes it, and migrates the schema (`PRAGMA user_version`). WAL mode,
/// `synchronous=FULL`, `busy_timeout` 5000 ms; every write is one `BEGIN IMMEDIATE` transaction.
///
/// `@unchecked Sendable`: after `init` the store is used by one thread at a time (the server's writer thread,
/// or the startup code before it starts); it holds no state that another thread reads.
public final class BreakerStore: @unchecked Sendable {
    /// The schema version this build writes and reads. 1: policies as protocol JSON. 2: policies as
    /// `BreakerPolicy.encoded`, and `forced_ttl_ms`.
    public static let schemaVersion: Int64 = 2

    /// The path given (`:memory:` keeps nothing).
    public let path: String
    let connection: SQLiteConnection
    private var lockFD: Int32 = -1
    private var upsert: Statement!
    private var insertTransition: Statement!
    private var trimTransitions: Statement!
    private var deleteBreaker: Statement!
    private var deleteTransitions: Statement!
    /// Policy text by policy, across writes (breakers mostly share a few policies).
    private var policyText: [BreakerPolicy: String] = [:]

    /// Opens (or creates) the database at `path`.
    public init(path: String) throws(StoreError) {
        self.path = path
        let inMemory = path == ":memory:"
        if !inMemory { lockFD = try Self.checkAndLock(path) }
        do {
            connection = try SQLiteConnection(path: path)
        } catch {
            Self.unlock(lockFD)
            throw Self.classify(error, path: path)
        }
        do {
            try connection.execute("PRAGMA busy_timeout = 5000")
            let version = try connection.integer("PRAGMA user_version")
            guard version <= Self.schemaVersion else {
                throw StoreError(
                    .newerSchema,
                    "database \(path) has schema version \(version), newer than this breakerd understands (\(Self.schemaVersion)); "
                        + "run a newer breakerd, or restore a backup made by this version")
            }
            if !inMemory {
                let check = try connection.strings("PRAGMA quick_check")
                guard check == ["ok"] else {
                    throw StoreError(
                        .corrupt,
                        "database \(path) is corrupt (\(check.prefix(3).joined(separator: "; "))); restore it from a backup, "
                            + "or move it aside to start empty")
                }
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

    // MARK: Opening

    /// Refuses directories and foreign files, then takes the one-writer lock (`flock`, independent of SQLite's
    /// own locks). Returns the locked descriptor, kept open for the life of the store.
    private static func checkAndLock(_ path: String) throws(StoreError) -> Int32 {
        var info = stat()
        if stat(path, &info) == 0 {
            if (info.st_mode & S_IFMT) == S_IFDIR {
                throw StoreError(.unreadable, "database \(path) is a directory; give --db a file path")
            }
            if info.st_size > 0 {
                // Every SQLite database starts with this 16-byte header; anything else is not ours to touch.
                guard let file = fopen(path, "rb") else {
                    throw StoreError(.unreadable, "database \(path) cannot be read: \(String(cString: strerror(errno))); check its permissions")
                }
                var header = [UInt8](repeating: 0, count: 16)
                let n = fread(&header, 1, 16, file)
                fclose(file)
                guard n == 16, header == Array("SQLite format 3\0".utf8) else {
                    throw StoreError(
                        .notADatabase,
                        "\(path) is not a SQLite database; breakerd will not overwrite it. Give --db another path")
                }
            }
        }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StoreError(.unreadable, "database \(path) cannot be opened: \(String(cString: strerror(errno))); check the path and its permissions")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let e = errno
            close(fd)
            if e == EWOULDBLOCK {
                throw StoreError(.inUse, "database \(path) is in use by another breakerd; one server writes one database file")
            }
            throw StoreError(.unreadable, "database \(path) cannot be locked: \(String(cString: strerror(e)))")
        }
        return fd
    }

    private static func unlock(_ fd: Int32) {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
    }

    private static func classify(_ error: SQLiteError, path: String) -> StoreError {
        switch error.primaryCode {
        case SQLITE_NOTADB:
            StoreError(.notADatabase, "\(path) is not a SQLite database (\(error.message)); breakerd will not overwrite it. Give --db another path")
        case SQLITE_CORRUPT:
            StoreError(.corrupt, "database \(path) is corrupt (\(error.message)); restore it from a backup, or move it aside to start empty")
        case SQLITE_CANTOPEN, SQLITE_PERM, SQLITE_READONLY, SQLITE_AUTH:
            StoreError(.unreadable, "database \(path) cannot be opened for writing (\(error.message)); check the path and its permissions")
        case SQLITE_BUSY, SQLITE_LOCKED:
            StoreError(.inUse, "database \(path) is locked by another process (\(error.message))")
        default:
            StoreError(.sqlite, "database \(path): \(error)")
        }
    }

    private func prepareStatements() throws(SQLiteError) {
        upsert = try connection.prepare(
            """
            INSERT OR REPLACE INTO breakers (resource, policy, state, generation, next_permit, open_until_ms,
                forced_state, forced_reason, forced_by, forced_until_ms, changed_at_ms, window, saved_at_ms,
                forced_ttl_ms)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
            """)
        insertTransition = try connection.prepare(
            """
            INSERT OR REPLACE INTO transitions (resource, generation, from_state, to_state, cause, at_ms, by, reason)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
            """)
        trimTransitions = try connection.prepare("DELETE FROM transitions WHERE resource = ?1 AND generation <= ?2")
        deleteBreaker = try connection.prepare("DELETE FROM breakers WHERE resource = ?1")
        deleteTransitions = try connection.prepare("DELETE FROM transitions WHERE resource = ?1")
    }

    // MARK: Reading

    /// Every stored breaker. Rows that cannot be read (a policy this version rejects) are returned in `skipped`.
    public func loadBreakers() throws(StoreError) -> (breakers: [PersistedBreaker], skipped: [String]) {
        do {
            let s = try connection.prepare(
                """
                SELECT resource, policy, state, generation, next_permit, open_until_ms, forced_state, forced_reason,
                    forced_by, forced_until_ms, changed_at_ms, window, saved_at_ms, forced_ttl_ms FROM breakers
                """)
            var out: [PersistedBreaker] = []
            var skipped: [String] = []
            // Breakers share a few policies: parse each policy text once.
            var policies: [String: BreakerPolicy] = [:]
            while try s.step() {
                let resource = s.text(0) ?? ""
                let policyText = s.text(1) ?? ""
                var policy = policies[policyText]
                if policy == nil, let parsed = BreakerPolicy(encoded: policyText) {
                    policy = parsed
                    if policies.count < 10_000 { policies[policyText] = parsed }
                }
                guard let policy, let state = BreakerState(rawValue: s.text(2) ?? "") else {
                    skipped.append(resource)
                    continue
                }
                let forced = s.text(6).flatMap(BreakerForce.Target.init(rawValue:)).map {
                    PersistedBreaker.Forced(
                        target: $0, reason: s.text(7), by: s.text(8), untilMs: s.optionalInt64(9),
                        ttlMs: s.optionalInt64(13))
                }
                out.append(
                    PersistedBreaker(
                        resource: resource, policy: policy, state: state, generation: UInt64(max(0, s.int64(3))),
                        nextPermitSequence: UInt64(max(1, s.int64(4))), openUntilMs: s.optionalInt64(5), forced: forced,
                        changedAtMs: s.int64(10), window: s.text(11) ?? "", savedAtMs: s.int64(12)))
            }
            return (out, skipped)
        } catch {
            throw Self.classify(error, path: path)
        }
    }

    /// The audit log of every breaker, oldest first.
    public func loadTransitions() throws(StoreError) -> [String: [TransitionRecord]] {
        do {
            let s = try connection.prepare(
                "SELECT resource, generation, from_state, to_state, cause, at_ms, by, reason FROM transitions ORDER BY resource, generation")
            var out: [String: [TransitionRecord]] = [:]
            while try s.step() {
                guard let from = BreakerState(rawValue: s.text(2) ?? ""), let to = BreakerState(rawValue: s.text(3) ?? ""),
                    let cause = TransitionCause(rawValue: s.text(4) ?? "")
                else { continue }
                out[s.text(0) ?? "", default: []].append(
                    TransitionRecord(
                        from: from, to: to, cause: cause, generation: UInt64(max(0, s.int64(1))), atMs: s.int64(5),
                        by: s.text(6), reason: s.text(7)))
            }
            return out
        } catch {
            throw Self.classify(error, path: path)
        }
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
                            s.bind(2, Int64(t.generation))
                            s.bind(3, t.from.rawValue)
                            s.bind(4, t.to.rawValue)
                            s.bind(5, t.cause.rawValue)
                            s.bind(6, t.atMs)
                            s.bind(7, t.by)
                            s.bind(8, t.reason)
                        }
                    }
                    if let last = transitions.last, last.generation > UInt64(TransitionRecord.retentionLimit) {
                        try trimTransitions.run { s in
                            s.bind(1, row.resource)
                            s.bind(2, Int64(last.generation - UInt64(TransitionRecord.retentionLimit)))
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
            s.bind(4, Int64(row.generation))
            s.bind(5, Int64(row.nextPermitSequence))
            s.bind(6, row.openUntilMs)
            s.bind(7, row.forced?.target.rawValue)
            s.bind(8, row.forced?.reason)
            s.bind(9, row.forced?.by)
            s.bind(10, row.forced?.untilMs)
            s.bind(11, row.changedAtMs)
            s.bind(12, row.window)
            s.bind(13, row.savedAtMs)
            s.bind(14, row.forced?.ttlMs)
        }
    }

    private func transaction(_ body: () throws(SQLiteError) -> Void) throws(SQLiteError) {
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
    public func breakerCount() throws(SQLiteError) -> Int { Int(try connection.integer("SELECT count(*) FROM breakers")) }
}
