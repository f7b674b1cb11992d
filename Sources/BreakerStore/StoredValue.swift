import CSQLite

/// One SQLite value copied out of a row (`sqlite3_value_dup`), freed with this object.
final class StoredValue {
    let handle: OpaquePointer

    init(_ handle: OpaquePointer) { self.handle = handle }

    deinit { sqlite3_value_free(handle) }
}
