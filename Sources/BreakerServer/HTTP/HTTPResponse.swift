/// One HTTP/1.1 response, and the writer of its bytes.
///
/// The writer owns the framing: it writes `Content-Length` itself and drops any `Content-Length`,
/// `Transfer-Encoding` or `Connection` header the caller gives. Every response carries `Cache-Control: no-store`
/// (unless the caller gives its own `Cache-Control`) and `X-Content-Type-Options: nosniff`. A header whose name is
/// not a token or whose value holds CR, LF or another control byte is dropped, so no caller can split a response.
struct HTTPResponse: Sendable {
    /// The status line's code and reason.
    var status: HTTPStatus
    /// The headers as (name, value), written in this order before the writer's own.
    var headers: [(String, String)]
    /// The body, in bytes.
    var body: [UInt8]

    /// A response with this status, headers and body.
    init(status: HTTPStatus, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A `text/plain; charset=utf-8` response of one line: `line` and a newline (not doubled when `line` ends
    /// with one).
    static func text(_ status: HTTPStatus, _ line: String) -> HTTPResponse {
        var body = Array(line.utf8)
        if body.last != HTTPSyntax.lf {
            body.append(HTTPSyntax.lf)
        }
        return HTTPResponse(status: status, headers: [("Content-Type", "text/plain; charset=utf-8")], body: body)
    }

    /// An `application/json` response whose body is `bytes`, as given.
    static func json(_ status: HTTPStatus, _ bytes: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: bytes)
    }

    /// Appends the response's bytes to `out`: the status line (always HTTP/1.1), the caller's headers, then
    /// `Cache-Control: no-store` and `X-Content-Type-Options: nosniff` unless given, `Content-Length` (the body's
    /// length even for `head`), and `Connection: close` when `keepAlive` is false (`Connection: keep-alive` when it
    /// is true and the request was HTTP/1.0). The body follows unless `head` (the answer to a HEAD request).
    /// A 1xx or 204 response has neither `Content-Length` nor body (RFC 9110 8.6).
    func write(into out: inout [UInt8], keepAlive: Bool, head: Bool, version: HTTPVersion = .http1_1) {
        Self.writeStatusLine(status, into: &out)
        Self.writeHeaders(headers, into: &out)
        let bodiless = (100..<200).contains(status.code) || status.code == 204
        if !bodiless {
            Self.writeField("Content-Length", String(body.count), into: &out)
        }
        if !keepAlive {
            Self.writeField("Connection", "close", into: &out)
        } else if version == .http1_0 {
            Self.writeField("Connection", "keep-alive", into: &out)
        }
        out.append(contentsOf: Self.crlf)
        if !head && !bodiless {
            out.append(contentsOf: body)
        }
    }

    /// Appends the head of a Server-Sent Events response to `out`: `200 OK`, `Content-Type: text/event-stream`,
    /// `Cache-Control: no-store`, `X-Content-Type-Options: nosniff`, `X-Accel-Buffering: no` (so a proxy such as
    /// nginx passes events on at once), then `headers` (sanitized as in `write`). No `Content-Length`: the events
    /// follow as they happen and the stream ends when the connection closes, so the connection is not reused.
    static func writeStreamingHead(into out: inout [UInt8], headers: [(String, String)] = []) {
        writeStatusLine(.ok, into: &out)
        let own = [("Content-Type", "text/event-stream"), ("X-Accel-Buffering", "no")]
        writeHeaders(own + headers, into: &out)
        out.append(contentsOf: crlf)
    }

    // MARK: Writing

    private static let crlf: [UInt8] = [HTTPSyntax.cr, HTTPSyntax.lf]

    /// The headers only the writer may write: they frame the response.
    private static let framingHeaders = ["Content-Length", "Transfer-Encoding", "Connection"]

    private static func writeStatusLine(_ status: HTTPStatus, into out: inout [UInt8]) {
        let code = (100...999).contains(status.code) ? status.code : 500
        out.append(contentsOf: "HTTP/1.1 \(code) ".utf8)
        out.append(contentsOf: status.reason.utf8.filter { HTTPSyntax.isFieldValueByte($0) })
        out.append(contentsOf: crlf)
    }

    /// Writes the safe ones of `headers`, then `Cache-Control` and `X-Content-Type-Options` unless among them.
    private static func writeHeaders(_ headers: [(String, String)], into out: inout [UInt8]) {
        var hasCacheControl = false
        var hasContentTypeOptions = false
        for (name, value) in headers where isSafe(name: name, value: value) {
            if framingHeaders.contains(where: { HTTPHeaders.sameName($0, name) }) {
                continue
            }
            hasCacheControl = hasCacheControl || HTTPHeaders.sameName(name, "Cache-Control")
            hasContentTypeOptions = hasContentTypeOptions || HTTPHeaders.sameName(name, "X-Content-Type-Options")
            writeField(name, value, into: &out)
        }
        if !hasCacheControl {
            writeField("Cache-Control", "no-store", into: &out)
        }
        if !hasContentTypeOptions {
            writeField("X-Content-Type-Options", "nosniff", into: &out)
        }
    }

    /// True when the header cannot change the response's framing: the name is a token, the value has no CR, LF
    /// or other control byte.
    static func isSafe(name: String, value: String) -> Bool {
        HTTPSyntax.isToken(name.utf8) && value.utf8.allSatisfy(HTTPSyntax.isFieldValueByte)
    }

    private static func writeField(_ name: String, _ value: String, into out: inout [UInt8]) {
        out.append(contentsOf: name.utf8)
        out.append(contentsOf: ": ".utf8)
        out.append(contentsOf: value.utf8)
        out.append(contentsOf: crlf)
    }
}
