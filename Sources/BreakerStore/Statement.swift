import CSQLite

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
                handle,
                index,
                UnsafeRawPointer(start).assumingMemoryBound(to: CChar.self),
                sqlite3_uint64(bytes.count),
                SQLITE_TRANSIENT,
                UInt8(SQLITE_UTF8)
            )
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
