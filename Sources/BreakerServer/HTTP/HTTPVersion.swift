/// The HTTP versions breakerd's HTTP port speaks. Other versions are refused with 505 by the parser.
enum HTTPVersion: Sendable, Hashable, CustomStringConvertible {
    /// HTTP/1.0: the connection closes after the response unless the request asks for `keep-alive`.
    case http1_0
    /// HTTP/1.1: the connection stays open unless the request says `Connection: close`.
    case http1_1

    /// `HTTP/1.1`, as on a request or status line.
    var description: String {
        switch self {
        case .http1_0: "HTTP/1.0"
        case .http1_1: "HTTP/1.1"
        }
    }
}
