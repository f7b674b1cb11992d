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
            code: sqlite3_extended_errcode(handle), message: String(cString: sqlite3_errmsg(handle)), context: context)
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

/// A prepared statement, reused across calls (reset before each use).
final class Statement {
    let handle: OpaquePointer
    unowned let connection: SQLiteConnection
    let sql: String

    init(handle: OpaquePointer, connection: SQLiteConnection, sql: String) {
        self.handle = handle
        self.connection = connection
        self.sql = sql
    }

    deinit { sqlite3_finalize(handle) }

    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    func bind(_ index: Int32, _ value: Int64?) {
        if let value { sqlite3_bind_int64(handle, index, value) } else { sqlite3_bind_null(handle, index) }
    }

    /// Binds text by its UTF-8 byte count, so that every byte is kept (a NUL included); nil binds NULL.
    func bind(_ index: Int32, _ value: String?) {
        guard var value else {
            sqlite3_bind_null(handle, index)
            return
        }
        value.withUTF8 { bytes in
            guard let start = bytes.baseAddress, !bytes.isEmpty else {
                // A NULL pointer would bind NULL: an empty string is bound from a literal.
                sqlite3_bind_text(handle, index, "", 0, SQLITE_TRANSIENT)
                return
            }
            sqlite3_bind_text64(
                handle, index, UnsafeRawPointer(start).assumingMemoryBound(to: CChar.self),
                sqlite3_uint64(bytes.count), SQLITE_TRANSIENT, UInt8(SQLITE_UTF8))
        }
    }

    /// Steps once: true when a row is ready, false when done.
    func step() throws(SQLiteError) -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw connection.error("running \(sql.prefix(60))")
        }
    }

    /// Resets, binds with `bind`, and runs to completion.
    func run(_ bind: (Statement) -> Void) throws(SQLiteError) {
        reset()
        bind(self)
        while try step() {}
    }

    /// A copy of the column's value exactly as stored (type and bytes), for binding it back with `bind(_:_:)`.
    func storedValue(_ column: Int32) -> StoredValue? {
        sqlite3_value_dup(sqlite3_column_value(handle, column)).map(StoredValue.init)
    }

    /// Binds a value read with `storedValue(_:)`: a key that matches the row it came from, whatever its bytes.
    func bind(_ index: Int32, _ value: StoredValue) {
        sqlite3_bind_value(handle, index, value.handle)
    }

    /// True when the column holds text that is valid UTF-8 (so that `text(_:)` returns exactly its bytes).
    func isValidText(_ column: Int32) -> Bool {
        guard sqlite3_column_type(handle, column) == SQLITE_TEXT else { return false }
        let p = sqlite3_column_text(handle, column)
        let count = Int(sqlite3_column_bytes(handle, column))
        guard let p, count > 0 else { return true }
        return String(validating: UnsafeBufferPointer(start: p, count: count), as: UTF8.self) != nil
    }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    func optionalInt64(_ column: Int32) -> Int64? {
        sqlite3_column_type(handle, column) == SQLITE_NULL ? nil : sqlite3_column_int64(handle, column)
    }

    /// The column's text with all its bytes (by `sqlite3_column_bytes`, not up to the first NUL); nil for NULL.
    func text(_ column: Int32) -> String? {
        guard sqlite3_column_type(handle, column) != SQLITE_NULL else { return nil }
        // Text first, then its length in bytes (the order SQLite documents).
        let p = sqlite3_column_text(handle, column)
        let count = Int(sqlite3_column_bytes(handle, column))
        guard let p, count > 0 else { return "" }
        return String(decoding: UnsafeBufferPointer(start: p, count: count), as: UTF8.self)
    }
}

/// One SQLite value copied out of a row (`sqlite3_value_dup`), freed with this object.
final class StoredValue {
    let handle: OpaquePointer

    init(_ handle: OpaquePointer) { self.handle = handle }

    deinit { sqlite3_value_free(handle) }
}
