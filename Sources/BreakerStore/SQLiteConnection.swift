import CSQLite

/// `SQLITE_TRANSIENT`: SQLite copies bound text and blobs before the call returns.
let SQLITE_TRANSIENT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A thin wrapper over one `sqlite3*`. Not thread-safe: one owner (the store's writer, or a `HistoryReader` under
/// its lock) uses it at a time.
final class SQLiteConnection {
    /// How a connection opens its file.
    enum Mode {
        /// Read and write, creating the file when missing (the store's writer).
        case readWrite
        /// Read only (a history reader next to a running writer). Takes part in WAL locking, so it writes its
        /// read marks into the `-shm` file.
        case readOnly
        /// Read only, and the `-shm` file read only too (`readonly_shm=1`): opening, reading and closing change
        /// no byte of the database, its `-wal` or its `-shm`. For checking a file before it is opened for
        /// writing; needs an existing `-shm` file when the database is in WAL mode.
        case inspect
    }

    let handle: OpaquePointer
    let path: String

    init(path: String, mode: Mode = .readWrite) throws(SQLiteError) {
        var db: OpaquePointer?
        let rc: Int32
        switch mode {
        case .readWrite:
            rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        case .readOnly:
            rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil)
        case .inspect:
            let uri = Self.fileURI(path) + "?mode=ro&readonly_shm=1"
            rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI, nil)
        }
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            let code = db.map { sqlite3_extended_errcode($0) } ?? rc
            sqlite3_close_v2(db)
            throw SQLiteError(code: code, message: message, context: "opening \(path)")
        }
        handle = db
        self.path = path
        sqlite3_extended_result_codes(db, 1)
    }

    /// `path` as a `file:` URI: every byte but `A-Z a-z 0-9 - . _ ~ /` percent-encoded, and an absolute path
    /// behind an empty authority (`file:///abs`), so that `?`, `#` and `%` in a name stay part of it.
    static func fileURI(_ path: String) -> String {
        var uri = path.hasPrefix("/") ? "file://" : "file:"
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        for byte in path.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"), UInt8(ascii: "/"):
                bytes.append(byte)
            default:
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        uri += String(decoding: bytes, as: UTF8.self)
        return uri
    }

    deinit { sqlite3_close_v2(handle) }

    func error(_ context: String) -> SQLiteError {
        SQLiteError(
            code: sqlite3_extended_errcode(handle),
            message: String(cString: sqlite3_errmsg(handle)),
            context: context
        )
    }

    /// Runs one or more statements that return no rows.
    func execute(_ sql: String) throws(SQLiteError) {
        guard sqlite3_exec(handle, sql, nil, nil, nil) == SQLITE_OK else { throw error("running \(sql.prefix(60))") }
    }

    func prepare(_ sql: String) throws(SQLiteError) -> Statement {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil) == SQLITE_OK,
            let stmt
        else {
            throw error("preparing \(sql.prefix(60))")
        }
        return Statement(handle: stmt, connection: self, sql: sql)
    }

    /// The single integer a query returns.
    func integer(_ sql: String) throws(SQLiteError) -> Int64 {
        let s = try prepare(sql)
        guard try s.step() else { throw error("reading \(sql)") }
        return s.int64(0)
    }

    /// The text rows of a one-column query.
    func strings(_ sql: String) throws(SQLiteError) -> [String] {
        let s = try prepare(sql)
        var out: [String] = []
        while try s.step() { out.append(s.text(0) ?? "") }
        return out
    }
}
