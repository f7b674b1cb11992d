/// An HTTP response status: the code and the reason phrase written on the status line.
struct HTTPStatus: Sendable, Hashable, CustomStringConvertible {
    /// The three-digit status code (`404`).
    var code: Int
    /// The reason phrase (`Not Found`). The writer drops control characters from it.
    var reason: String

    /// A status with any code and reason.
    init(code: Int, reason: String) {
        self.code = code
        self.reason = reason
    }

    /// `404 Not Found`.
    var description: String { "\(code) \(reason)" }

    /// 200: the request succeeded.
    static let ok = HTTPStatus(code: 200, reason: "OK")
    /// 204: the request succeeded and the response has no body.
    static let noContent = HTTPStatus(code: 204, reason: "No Content")
    /// 400: the request is malformed.
    static let badRequest = HTTPStatus(code: 400, reason: "Bad Request")
    /// 401: no valid `Authorization: Bearer` token (send `WWW-Authenticate: Bearer` with it).
    static let unauthorized = HTTPStatus(code: 401, reason: "Unauthorized")
    /// 403: the token's role may not do this.
    static let forbidden = HTTPStatus(code: 403, reason: "Forbidden")
    /// 404: no such path or resource.
    static let notFound = HTTPStatus(code: 404, reason: "Not Found")
    /// 405: the path exists but not with this method (send `Allow` with it).
    static let methodNotAllowed = HTTPStatus(code: 405, reason: "Method Not Allowed")
    /// 408: the request did not arrive in time.
    static let requestTimeout = HTTPStatus(code: 408, reason: "Request Timeout")
    /// 409: the request conflicts with the resource's state.
    static let conflict = HTTPStatus(code: 409, reason: "Conflict")
    /// 411: a body was expected with a `Content-Length`.
    static let lengthRequired = HTTPStatus(code: 411, reason: "Length Required")
    /// 413: the body is over the limit.
    static let payloadTooLarge = HTTPStatus(code: 413, reason: "Content Too Large")
    /// 414: the request line is over the header limit.
    static let uriTooLong = HTTPStatus(code: 414, reason: "URI Too Long")
    /// 429: too many requests; retry later.
    static let unsupportedMediaType = HTTPStatus(code: 415, reason: "Unsupported Media Type")
    /// 429.
    static let tooManyRequests = HTTPStatus(code: 429, reason: "Too Many Requests")
    /// 431: the header section is over the limit.
    static let headerFieldsTooLarge = HTTPStatus(code: 431, reason: "Request Header Fields Too Large")
    /// 500: the server failed.
    static let internalServerError = HTTPStatus(code: 500, reason: "Internal Server Error")
    /// 501: the request uses a feature the server does not have (`Transfer-Encoding`).
    static let notImplemented = HTTPStatus(code: 501, reason: "Not Implemented")
    /// 503: the server cannot serve this now (not ready, too many connections).
    static let serviceUnavailable = HTTPStatus(code: 503, reason: "Service Unavailable")
    /// 505: an HTTP version other than 1.0 and 1.1.
    static let httpVersionNotSupported = HTTPStatus(code: 505, reason: "HTTP Version Not Supported")
}
