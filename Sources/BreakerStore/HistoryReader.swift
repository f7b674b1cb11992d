public import BreakerCore
import CSQLite
import Synchronization

/// Reads breakers' audit logs from the database while the store's writer thread writes it: for `history`
/// beyond what memory keeps. Any thread may call it (calls take turns on one read-only connection); with WAL a
/// read never waits for the writer, and sees the last committed write.
///
/// Opened next to a store (`BreakerStore.makeHistoryReader()`), on the same file. For a `:memory:` store there is
/// nothing on disk to read: every call returns no records.
public final class HistoryReader: Sendable {
    /// The connection and its prepared query, used by one caller at a time.
    final class Reader {
        let connection: SQLiteConnection
        let query: Statement

        init(path: String) throws(SQLiteError) {
            connection = try SQLiteConnection(path: path, mode: .readOnly)
            // A reader waits only while the writer's checkpoint truncates the WAL (rare and short).
            try connection.execute("PRAGMA busy_timeout = 1000")
            query = try connection.prepare(
                """
                SELECT generation, from_state, to_state, cause, at_ms, by, reason, shadow FROM transitions
                WHERE resource = ?1 AND generation < ?2 ORDER BY generation DESC LIMIT ?3
                """
            )
        }
    }

    /// The database file read (`:memory:` reads nothing).
    public let path: String
    private let reader: Mutex<Reader?>

    /// Opens a read-only connection to the database at `path`, which a `BreakerStore` has created (and switched
    /// to WAL mode) already.
    public init(path: String) throws(StoreError) {
        self.path = path
        guard path != ":memory:" else {
            reader = Mutex(nil)
            return
        }
        do {
            reader = Mutex(try Reader(path: path))
        } catch {
            throw BreakerStore.classify(error, path: path)
        }
    }

    /// The audit-log records of `resource`, newest first: at most `limit` of them, each with a generation below
    /// `beforeGeneration` when given (pass the oldest generation of the previous page to read the next one).
    /// Records with a state or cause this version does not know are left out. No records for an unknown
    /// resource, a `limit` of 0 or less, or a `:memory:` database.
    public func transitions(
        resource: String,
        beforeGeneration: UInt64?,
        limit: Int
    ) throws(StoreError) -> [TransitionRecord] {
        guard limit > 0 else { return [] }
        let result = reader.withLock { reader -> Result<[TransitionRecord], SQLiteError> in
            guard let reader else { return .success([]) }
            let s = reader.query
            // Reset when done, so that no read transaction stays open and holds back the writer's checkpoints.
            defer { s.reset() }
            s.reset()
            s.bind(1, resource)
            s.bind(2, beforeGeneration.map { Int64(clamping: $0) } ?? Int64.max)
            s.bind(3, Int64(limit))
            var records: [TransitionRecord] = []
            do throws(SQLiteError) {
                while try s.step() {
                    if let record = BreakerStore.transition(s, from: 0) { records.append(record) }
                }
            } catch {
                return .failure(error)
            }
            return .success(records)
        }
        switch result {
        case .success(let records): return records
        case .failure(let error): throw BreakerStore.classify(error, path: path)
        }
    }
}

extension HistoryReader {
    /// Closes the read connection (at shutdown, before the store's last checkpoint, so that the WAL can be
    /// removed). Later calls return no transitions.
    public func close() {
        reader.withLock { $0 = nil }
    }
}

extension BreakerStore {
    /// A `HistoryReader` on this store's file, for the threads that answer `history` (`:memory:`: one that reads
    /// nothing).
    public func makeHistoryReader() throws(StoreError) -> HistoryReader {
        try HistoryReader(path: path)
    }
}
