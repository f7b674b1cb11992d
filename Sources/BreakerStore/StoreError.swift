/// Why the database cannot be used. Every message names the file and says what to do.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    /// The kinds of problem.
    public enum Kind: Sendable, Hashable {
        /// Another breakerd (or SQLite user) holds the file.
        case inUse
        /// The file is not a SQLite database.
        case notADatabase
        /// SQLite found the file damaged.
        case corrupt
        /// The file (or its directory) cannot be read, opened or locked.
        case unreadable
        /// The file was written by a newer breakerd.
        case newerSchema
        /// Stored breakers that this version cannot read (`BreakerStore.loadBreakers()` names them;
        /// `BreakerStore.dropUnreadableRows()` removes them).
        case unreadableRows
        /// Any other SQLite failure.
        case sqlite
    }

    /// What kind of problem it is.
    public let kind: Kind
    /// The message.
    public let message: String

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
