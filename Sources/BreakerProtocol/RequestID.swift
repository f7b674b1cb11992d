/// A request's `id`: an integer or a string of at most 64 bytes (UTF-8), echoed in its reply.
public enum RequestID: Sendable, Hashable, CustomStringConvertible {
    case integer(Int64)
    case string(String)

    /// The longest string id accepted, in UTF-8 bytes.
    public static let maximumStringLength = 64

    public var description: String {
        switch self {
        case .integer(let i): "\(i)"
        case .string(let s): "\"\(s)\""
        }
    }
}

extension RequestID {
    /// Writes the `"id"` member of a request or reply.
    func writeMember(into w: inout JSONWriter) {
        switch self {
        case .integer(let i): w.member("id", i)
        case .string(let s): w.member("id", s)
        }
    }
}
