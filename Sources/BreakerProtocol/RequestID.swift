/// A request's `id`: an integer or a string of at most 64 characters, echoed in its reply.
public enum RequestID: Sendable, Hashable, CustomStringConvertible {
    case integer(Int64)
    case string(String)

    /// The longest string id accepted, in characters.
    public static let maximumStringLength = 64

    public var description: String {
        switch self {
        case .integer(let i): "\(i)"
        case .string(let s): "\"\(s)\""
        }
    }
}
