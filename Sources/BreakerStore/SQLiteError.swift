import CSQLite

/// A failed SQLite call: the extended result code, SQLite's message, and what was being done.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    /// The extended result code (`sqlite3_extended_errcode`).
    public let code: Int32
    /// SQLite's message.
    public let message: String
    /// What was being done (a statement or an action).
    public let context: String

    init(code: Int32, message: String, context: String) {
        self.code = code
        self.message = message
        self.context = context
    }

    /// The primary result code (the low byte), e.g. `SQLITE_NOTADB`.
    public var primaryCode: Int32 { code & 0xFF }

    public var description: String { "\(message) (SQLite code \(code)) while \(context)" }
}
