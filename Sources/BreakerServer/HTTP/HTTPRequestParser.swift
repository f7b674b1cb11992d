/// Parses HTTP/1.0 and HTTP/1.1 requests from bytes, with no I/O and no state between calls: the caller keeps
/// what it read and calls `parse` again when more arrives, then drops the `consumed` bytes of each request.
///
/// The parser is strict where leniency would let a proxy and breakerd disagree about where a request ends:
/// - Lines end with CRLF. A bare LF, a bare CR and obsolete line folding are 400. Empty lines before the request
///   line are skipped (RFC 9112 2.2).
/// - The request line is `METHOD SP target SP HTTP/x.y` with single spaces. The target is a path starting with
///   `/`, or an absolute `http://host/path` of which only the path and query are kept.
/// - HTTP/1.1 needs exactly one `Host`; HTTP/1.0 may send none (but not two).
/// - Bodies are framed by `Content-Length` only: `Transfer-Encoding` is 501.
///
/// Limits: the header section (request line, headers and the empty line, CRLFs included) may be at most
/// `maximumHeaderBytes`; past that it is 414 while the request line has not ended, 431 after. The body may be at
/// most `maximumBodyBytes` (413, returned as soon as the `Content-Length` line arrives). Both are found as soon as
/// the bytes at hand prove them, so a peer sending byte by byte cannot hold a connection open past a limit.
///
/// After `.failure` the stream cannot be framed any more: answer with the status and close the connection.
struct HTTPRequestParser: Sendable {
    /// What the bytes at hand hold.
    enum Outcome: Sendable, Equatable {
        /// Not a whole request yet, and nothing wrong so far: read more and call again with all the bytes.
        case incomplete
        /// The first request, which took the first `consumed` bytes (header section and body). The bytes after
        /// it are the start of the next, pipelined request.
        case request(HTTPRequest, consumed: Int)
        /// The request is malformed or over a limit: answer with this status and one-line reason, then close.
        case failure(HTTPStatus, String)
    }

    /// The longest header section accepted, in bytes: request line, header lines and the final empty line,
    /// CRLFs included.
    let maximumHeaderBytes: Int
    /// The longest body accepted, in bytes.
    let maximumBodyBytes: Int

    /// A parser with these limits, in bytes (a header limit under 1 is raised to 1, a body limit under 0 to 0).
    init(maximumHeaderBytes: Int = 8_192, maximumBodyBytes: Int = 65_536) {
        self.maximumHeaderBytes = max(1, maximumHeaderBytes)
        self.maximumBodyBytes = max(0, maximumBodyBytes)
    }

    /// Parses the first request in `bytes`, which may hold less than one request or more than one (pipelining).
    func parse(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        do throws(Failure) {
            return try parseOrThrow(bytes)
        } catch {
            return .failure(error.status, error.reason)
        }
    }

    /// Parses the first request in `bytes` (see `parse(_: UnsafeRawBufferPointer)`).
    func parse(_ bytes: [UInt8]) -> Outcome {
        bytes.withUnsafeBytes { parse($0) }
    }

    // MARK: The header section

    private struct Failure: Error {
        var status: HTTPStatus
        var reason: String

        static func badRequest(_ reason: String) -> Failure { Failure(status: .badRequest, reason: reason) }
    }

    /// The request line, decoded.
    private struct Start {
        var method: String
        var version: HTTPVersion
        var path: String
        var segments: [String]
        var query: [String: String]
    }

    /// What the header lines said so far.
    private struct Head {
        var start: Start?
        var headers = HTTPHeaders()
        var hostCount = 0
        var contentLength: Int?
    }

    private func parseOrThrow(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> Outcome {
        let scanEnd = min(bytes.count, maximumHeaderBytes)
        var head = Head()
        var lineStart = 0
        var headerEnd: Int?
        while headerEnd == nil {
            guard let lf = Self.firstLF(in: bytes, from: lineStart, to: scanEnd) else {
                try checkUnfinishedLine(bytes, from: lineStart, to: scanEnd, isRequestLine: head.start == nil)
                guard bytes.count < maximumHeaderBytes else {
                    if head.start == nil {
                        throw Failure(
                            status: .uriTooLong,
                            reason: "request line over \(maximumHeaderBytes) bytes; use a shorter URL"
                        )
                    }
                    throw Failure(
                        status: .headerFieldsTooLarge,
                        reason: "header section over \(maximumHeaderBytes) bytes; send fewer or shorter headers"
                    )
                }
                return .incomplete
            }
            guard lf > lineStart, bytes[lf - 1] == HTTPSyntax.cr else {
                throw .badRequest("line ended by a bare LF; end every line with CRLF")
            }
            let line = lineStart..<(lf - 1)
            lineStart = lf + 1
            if line.isEmpty {
                if head.start != nil {
                    headerEnd = lineStart
                }
                // An empty line before the request line is ignored (RFC 9112 2.2).
            } else if head.start == nil {
                head.start = try parseRequestLine(Array(UnsafeRawBufferPointer(rebasing: bytes[line])))
            } else {
                try parseField(UnsafeRawBufferPointer(rebasing: bytes[line]), into: &head)
            }
        }
        guard let start = head.start, let headerEnd else {
            throw .badRequest("no request line; send 'METHOD /path HTTP/1.1'")
        }
        if start.version == .http1_1 && head.hostCount == 0 {
            throw .badRequest("HTTP/1.1 request without a Host header; send 'Host: <host>'")
        }
        let length = head.contentLength ?? 0
        guard bytes.count - headerEnd >= length else { return .incomplete }
        let end = headerEnd + length
        let keepAlive =
            switch start.version {
            case .http1_1: !head.headers.contains(token: "close", in: "Connection")
            case .http1_0:
                head.headers.contains(token: "keep-alive", in: "Connection")
                    && !head.headers.contains(token: "close", in: "Connection")
            }
        let request = HTTPRequest(
            method: start.method,
            path: start.path,
            pathSegments: start.segments,
            query: start.query,
            headers: head.headers,
            body: Array(bytes[headerEnd..<end]),
            version: start.version,
            keepAlive: keepAlive
        )
        return .request(request, consumed: end)
    }

    private static func firstLF(in bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Int? {
        var i = start
        while i < end {
            if bytes[i] == HTTPSyntax.lf { return i }
            i += 1
        }
        return nil
    }

    /// Refuses a line that has not ended yet as soon as it holds a byte no valid line can: a TLS handshake or
    /// binary junk fails at once instead of at the size limit.
    private func checkUnfinishedLine(
        _ bytes: UnsafeRawBufferPointer,
        from start: Int,
        to end: Int,
        isRequestLine: Bool
    ) throws(Failure) {
        guard start < end else { return }
        // A CR as the last byte scanned may be the start of the line's CRLF (the LF unread or past the limit).
        let checkedEnd = bytes[end - 1] == HTTPSyntax.cr ? end - 1 : end
        let line = UnsafeRawBufferPointer(rebasing: bytes[start..<checkedEnd])
        if isRequestLine {
            try Self.checkRequestLineBytes(line)
        } else {
            try Self.checkFieldLineBytes(line)
        }
    }

    // MARK: The request line

    private static func checkRequestLineBytes(_ line: some Collection<UInt8>) throws(Failure) {
        for byte in line where !HTTPSyntax.isRequestLineByte(byte) {
            if byte == HTTPSyntax.cr {
                throw .badRequest("bare CR in the request line; end lines with CRLF")
            }
            throw .badRequest("control or non-ASCII byte in the request line; percent-encode the target")
        }
    }

    private func parseRequestLine(_ line: [UInt8]) throws(Failure) -> Start {
        try Self.checkRequestLineBytes(line)
        let parts = line.split(separator: HTTPSyntax.space, omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else {
            throw .badRequest("request line is not 'METHOD /path HTTP/1.1' (single spaces)")
        }
        let version = try Self.parseVersion(parts[2])
        guard HTTPSyntax.isToken(parts[0]) else {
            throw .badRequest("method is not a token; send GET, HEAD or POST")
        }
        let method = String(decoding: parts[0], as: UTF8.self)
        let target: HTTPTarget
        do {
            target = try HTTPTarget(parsing: parts[1])
        } catch {
            throw .badRequest(error.reason)
        }
        return Start(
            method: method,
            version: version,
            path: target.path,
            segments: target.segments,
            query: target.query
        )
    }

    private static func parseVersion(_ text: ArraySlice<UInt8>) throws(Failure) -> HTTPVersion {
        let prefix = Array("HTTP/".utf8)
        guard text.starts(with: prefix) else {
            throw .badRequest("request line does not end with an HTTP version; send HTTP/1.1")
        }
        let number = text.dropFirst(prefix.count)
        if number.elementsEqual("1.1".utf8) { return .http1_1 }
        if number.elementsEqual("1.0".utf8) { return .http1_0 }
        let parts = number.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        let isDigits = { (part: ArraySlice<UInt8>) in
            !part.isEmpty && part.count <= 3 && part.allSatisfy { (0x30...0x39).contains($0) }
        }
        guard parts.count <= 2, parts.allSatisfy(isDigits) else {
            throw .badRequest("malformed HTTP version; send HTTP/1.1")
        }
        throw Failure(
            status: .httpVersionNotSupported,
            reason: "HTTP/\(String(decoding: number, as: UTF8.self)) is not supported; use HTTP/1.1"
        )
    }

    // MARK: Header lines

    private static func checkFieldLineBytes(_ line: UnsafeRawBufferPointer) throws(Failure) {
        if let first = line.first, HTTPSyntax.isWhitespace(first) {
            throw .badRequest("header line starts with whitespace (obsolete line folding); put each header on one line")
        }
        for byte in line where !HTTPSyntax.isFieldValueByte(byte) {
            if byte == HTTPSyntax.cr {
                throw .badRequest("bare CR in a header line; end lines with CRLF")
            }
            throw .badRequest("control byte in a header line; send printable header values")
        }
    }

    private func parseField(_ line: UnsafeRawBufferPointer, into head: inout Head) throws(Failure) {
        try Self.checkFieldLineBytes(line)
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
            throw .badRequest("header line without ':'; send 'Name: value'")
        }
        let name = line[..<colon]
        if let last = name.last, HTTPSyntax.isWhitespace(last) {
            throw .badRequest("whitespace between a header name and ':'; remove it")
        }
        guard HTTPSyntax.isToken(name) else {
            throw .badRequest("header name is empty or not a token; send 'Name: value'")
        }
        var value = line[(colon + 1)...]
        while let first = value.first, HTTPSyntax.isWhitespace(first) { value = value.dropFirst() }
        while let last = value.last, HTTPSyntax.isWhitespace(last) { value = value.dropLast() }
        let nameText = String(decoding: name, as: UTF8.self)
        let valueText = String(decoding: value, as: UTF8.self)
        if HTTPHeaders.sameName(nameText, "Host") {
            head.hostCount += 1
            if head.hostCount > 1 {
                throw .badRequest("more than one Host header; send one")
            }
        } else if HTTPHeaders.sameName(nameText, "Transfer-Encoding") {
            throw Failure(
                status: .notImplemented,
                reason: "chunked bodies are not supported; send Content-Length"
            )
        } else if HTTPHeaders.sameName(nameText, "Content-Length") {
            let length = try Self.parseContentLength(value)
            if let previous = head.contentLength, previous != length {
                throw .badRequest("Content-Length headers disagree; send one")
            }
            head.contentLength = length
            if length > maximumBodyBytes {
                throw Failure(
                    status: .payloadTooLarge,
                    reason: "body over \(maximumBodyBytes) bytes; send a smaller body"
                )
            }
        }
        head.headers.append(name: nameText, value: valueText)
    }

    /// The value of a `Content-Length`, saturating at `Int.max`.
    private static func parseContentLength(_ digits: some Collection<UInt8>) throws(Failure) -> Int {
        guard !digits.isEmpty else {
            throw .badRequest("empty Content-Length; send the body's length in bytes")
        }
        var length = 0
        for byte in digits {
            guard (0x30...0x39).contains(byte) else {
                throw .badRequest("Content-Length is not a decimal number; send the body's length in bytes")
            }
            let (times10, overflow1) = length.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int(byte - 0x30))
            length = overflow1 || overflow2 ? Int.max : sum
        }
        return length
    }
}
