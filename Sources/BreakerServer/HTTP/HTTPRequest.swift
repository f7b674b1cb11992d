/// One parsed HTTP/1.x request, its target already percent-decoded. `HTTPRequestParser` makes it.
struct HTTPRequest: Sendable, Equatable {
    /// The method token exactly as sent (`GET`, `HEAD`, `POST`, ...); methods are case-sensitive and the router
    /// decides which it allows (405).
    var method: String
    /// The percent-decoded path without the query (`/api/breakers/db`). A `%2F` decodes to `/` here, so route on
    /// `pathSegments`.
    var path: String
    /// The path split on `/` before decoding, each segment decoded: `/api/breakers/a%2Fb` is
    /// `["api", "breakers", "a/b"]`. `/` is `[]`; a trailing slash gives a last empty segment.
    var pathSegments: [String]
    /// The query's parameters, decoded (`+` is a space, `%XX` a byte); when a name repeats the last one wins, and a
    /// name without `=` has the value "".
    var query: [String: String]
    /// The header fields, looked up case-insensitively: `headers["authorization"]`.
    var headers: HTTPHeaders
    /// Exactly `Content-Length` bytes (empty without a `Content-Length`).
    var body: [UInt8]
    /// The request's HTTP version.
    var version: HTTPVersion
    /// Whether the connection stays open after the response: with HTTP/1.1 unless `Connection: close`, with
    /// HTTP/1.0 only with `Connection: keep-alive`.
    var keepAlive: Bool

    /// True for `HEAD`: the response carries the headers of the `GET` response (`Content-Length` included) but no
    /// body.
    var isHead: Bool { method == "HEAD" }
}
