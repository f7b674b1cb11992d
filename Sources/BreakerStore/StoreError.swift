/// Why the database cannot be used. Every message names the file and says what to do.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        case inUse, notADatabase, corrupt, unreadable, newerSchema, sqlite
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
