import Testing

@testable import BreakerServer

/// The HTTP port's request parser and response writer, driven with bytes and no socket: every refusal with its
/// status, the limits at their edges, pipelining, bytes arriving one at a time, keep-alive, and responses that
/// cannot be split.
@Suite struct HTTPParserTests {
    let parser = HTTPRequestParser()

    func parse(_ text: String, _ parser: HTTPRequestParser = HTTPRequestParser()) -> HTTPRequestParser.Outcome {
        parser.parse(Array(text.utf8))
    }

    func parsed(
        _ text: String,
        _ parser: HTTPRequestParser = HTTPRequestParser(),
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> HTTPRequest? {
        guard case .request(let request, let consumed) = parse(text, parser) else {
            Issue.record("not a request: \(parse(text, parser))", sourceLocation: sourceLocation)
            return nil
        }
        #expect(consumed == text.utf8.count, sourceLocation: sourceLocation)
        return request
    }

    func expectFailure(
        _ bytes: [UInt8],
        _ status: HTTPStatus,
        _ parser: HTTPRequestParser = HTTPRequestParser(),
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard case .failure(let actual, let reason) = parser.parse(bytes) else {
            Issue.record("expected \(status), got \(parser.parse(bytes))", sourceLocation: sourceLocation)
            return
        }
        #expect(actual == status, "\(reason)", sourceLocation: sourceLocation)
        #expect(!reason.isEmpty && !reason.contains("\n") && !reason.contains("\r"), sourceLocation: sourceLocation)
    }

    func expectFailure(
        _ text: String,
        _ status: HTTPStatus,
        _ parser: HTTPRequestParser = HTTPRequestParser(),
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        expectFailure(Array(text.utf8), status, parser, sourceLocation: sourceLocation)
    }

    func written(_ response: HTTPResponse, keepAlive: Bool = true, head: Bool = false) -> String {
        var out: [UInt8] = []
        response.write(into: &out, keepAlive: keepAlive, head: head)
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: Requests that parse

    @Test func aSimpleGetParses() throws {
        let text = "GET /api/breakers/db?limit=5 HTTP/1.1\r\nHost: localhost:9001\r\nAuthorization: Bearer abc\r\n\r\n"
        let request = try #require(parsed(text))
        #expect(request.method == "GET")
        #expect(request.path == "/api/breakers/db")
        #expect(request.pathSegments == ["api", "breakers", "db"])
        #expect(request.query == ["limit": "5"])
        #expect(request.headers["authorization"] == "Bearer abc")
        #expect(request.headers["HOST"] == "localhost:9001")
        #expect(request.headers["Accept"] == nil)
        #expect(request.body.isEmpty)
        #expect(request.version == .http1_1)
        #expect(request.keepAlive)
        #expect(!request.isHead)
    }

    @Test func aPostCarriesExactlyItsBody() throws {
        let body = #"{"state":"open"}"#
        let text =
            "POST /api/breakers/db/force HTTP/1.1\r\nHost: h\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        let request = try #require(parsed(text))
        #expect(request.method == "POST")
        #expect(request.body == Array(body.utf8))
        #expect(request.pathSegments == ["api", "breakers", "db", "force"])
    }

    @Test func headerValuesAreTrimmedAndNamesMatchInAnyCase() throws {
        let text = "GET / HTTP/1.1\r\nhost: h\r\nX-Breaker-Client:  \t ops laptop \t \r\nx-a: 1\r\nX-A: 2\r\n\r\n"
        let request = try #require(parsed(text))
        #expect(request.headers["x-breaker-client"] == "ops laptop")
        #expect(request.headers["X-A"] == "1", "the first of a repeated header")
        #expect(request.headers.values("x-a") == ["1", "2"])
        #expect(request.headers.count == 4)
        #expect(request.path == "/")
        #expect(request.pathSegments == [])
    }

    @Test func emptyLinesBeforeTheRequestLineAreSkipped() throws {
        let request = try #require(parsed("\r\n\r\nGET /healthz HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(request.path == "/healthz")
    }

    @Test func repeatedEqualContentLengthsAreAccepted() throws {
        let request = try #require(
            parsed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\ncontent-length: 002\r\n\r\nok")
        )
        #expect(request.body == Array("ok".utf8))
    }

    @Test func anAbsoluteFormTargetKeepsItsPathAndQuery() throws {
        let request = try #require(parsed("GET http://example.com:8080/api/stats?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(request.path == "/api/stats")
        #expect(request.query == ["x": "1"])
        let bare = try #require(parsed("GET HTTPS://example.com?x=2 HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(bare.path == "/")
        #expect(bare.query == ["x": "2"])
    }

    @Test func http10NeedsNoHost() throws {
        let request = try #require(parsed("GET / HTTP/1.0\r\n\r\n"))
        #expect(request.version == .http1_0)
        #expect(!request.keepAlive)
    }

    // MARK: Percent-decoding and the query

    @Test func percentEncodedSlashStaysInsideItsSegment() throws {
        let request = try #require(parsed("GET /api/breakers/a%2Fb/history HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(request.pathSegments == ["api", "breakers", "a/b", "history"])
        #expect(request.path == "/api/breakers/a/b/history")
    }

    @Test func pathsDecodeUTF8AndKeepPlusAndEmptySegments() throws {
        let request = try #require(parsed("GET /caf%C3%A9/a+b/%20x//end/ HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(request.pathSegments == ["café", "a+b", " x", "", "end", ""])
    }

    @Test func queryParametersDecodeAndTheLastOneWins() throws {
        let text = "GET /api/breakers?prefix=pay%2Fments+eu&&after=&limit=10&limit=20&flag&caf%C3%A9=%26 HTTP/1.1\r\n"
        let request = try #require(parsed(text + "Host: h\r\n\r\n"))
        #expect(
            request.query == ["prefix": "pay/ments eu", "after": "", "limit": "20", "flag": "", "café": "&"]
        )
        #expect(request.path == "/api/breakers")
    }

    @Test(arguments: [
        "/a%zz", "/a%2", "/a%", "/?x=%g0", "/a%00b", "/?x=%00", "/..", "/api/../x", "/./x", "/%2e%2E/x", "/%2E",
        "/%FF", "/?x=%C3", "/a#frag",
    ])
    func malformedEncodingsAreRefused(target: String) {
        expectFailure("GET \(target) HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest)
    }

    // MARK: 400 Bad Request

    @Test(arguments: [
        ("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", "two spaces"),
        ("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", "trailing space"),
        ("GET /\r\nHost: h\r\n\r\n", "HTTP/0.9 style"),
        ("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", "method not a token"),
        ("GET * HTTP/1.1\r\nHost: h\r\n\r\n", "asterisk form"),
        ("CONNECT example.com:443 HTTP/1.1\r\nHost: h\r\n\r\n", "authority form"),
        ("GET ftp://x/ HTTP/1.1\r\nHost: h\r\n\r\n", "another scheme"),
        ("GET / http/1.1\r\nHost: h\r\n\r\n", "lowercase version"),
        ("GET / HTTP/1.1x\r\nHost: h\r\n\r\n", "malformed version"),
        ("GET / HTTP/1.\r\nHost: h\r\n\r\n", "truncated version"),
        ("GET / HTTP/1.1\r\n\r\n", "no Host in HTTP/1.1"),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "two Hosts"),
        ("GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", "two Hosts in HTTP/1.0"),
        ("GET / HTTP/1.1\r\nHost : h\r\n\r\n", "space before the colon"),
        ("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", "tab before the colon"),
        ("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  continued\r\n\r\n", "obs-fold"),
        ("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\tcontinued\r\n\r\n", "obs-fold with a tab"),
        ("GET / HTTP/1.1\nHost: h\n\n", "bare LF"),
        ("GET / HTTP/1.1\r\nHost: h\n\r\n", "bare LF after a header"),
        ("GET / HTTP/1.1\rHost: h\r\n\r\n", "bare CR"),
        ("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", "bare CR in a header"),
        ("GET / HTTP/1.1\r\nHost: h\r\nno colon here\r\n\r\n", "no colon"),
        ("GET / HTTP/1.1\r\nHost: h\r\n: value\r\n\r\n", "empty name"),
        ("GET / HTTP/1.1\r\nHost: h\r\nX(A): 1\r\n\r\n", "name not a token"),
        ("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\u{01}b\r\n\r\n", "control byte in a value"),
        ("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\u{7F}b\r\n\r\n", "DEL in a value"),
        ("GET /\u{00} HTTP/1.1\r\nHost: h\r\n\r\n", "NUL in the request line"),
        ("GET /é HTTP/1.1\r\nHost: h\r\n\r\n", "non-ASCII target"),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12a\r\n\r\n", "Content-Length not digits"),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", "negative Content-Length"),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", "signed Content-Length"),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", "empty Content-Length"),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n", "Content-Length list"),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", "disagreeing lengths"),
    ])
    func malformedRequestsAre400(input: String, what: String) {
        expectFailure(input, .badRequest)
    }

    @Test func garbageFailsAtOnceWithoutWaitingForALineEnd() {
        // A TLS ClientHello's first bytes, with no LF in sight.
        expectFailure([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03], .badRequest)
        expectFailure("GET / HTTP/1.1\r\nHost: h\r\n X", .badRequest)  // obs-fold, line not ended
        expectFailure("GET / HTTP/1.1\r\nX-A: \u{00}", .badRequest)
        #expect(parse("GET / HTTP/1.1\r") == .incomplete, "a CR at the end may be the start of CRLF")
        #expect(parse("GET / HTTP/1.1\r\nHost: h\r") == .incomplete)
        #expect(parse("GET / HTTP/1.1\r\nHost: h\r\n\r") == .incomplete)
    }

    @Test func aBadRequestLineFailsBeforeTheHeadersEnd() {
        expectFailure("GET /../etc HTTP/1.1\r\n", .badRequest)
        expectFailure("GET / HTTP/2.0\r\n", .httpVersionNotSupported)
    }

    // MARK: The other refusals

    @Test func transferEncodingIs501() {
        expectFailure(
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            .notImplemented
        )
        expectFailure(
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ntransfer-encoding: identity\r\n\r\n",
            .notImplemented
        )
        guard case .failure(_, let reason) = parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n") else {
            Issue.record("expected a failure")
            return
        }
        #expect(reason == "chunked bodies are not supported; send Content-Length")
    }

    @Test(arguments: ["HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "HTTP/3", "HTTP/2"])
    func otherVersionsAre505(version: String) {
        expectFailure("GET / \(version)\r\nHost: h\r\n\r\n", .httpVersionNotSupported)
    }

    @Test func theHTTP2PrefaceIs505() {
        expectFailure("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", .httpVersionNotSupported)
    }

    @Test func aBodyOverTheLimitIs413BeforeTheBodyArrives() {
        expectFailure("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 65537\r\n\r\n", .payloadTooLarge)
        // Even before the header section ends.
        expectFailure("POST / HTTP/1.1\r\nContent-Length: 70000\r\n", .payloadTooLarge)
    }

    @Test func hugeContentLengthsAre413NotACrash() {
        for digits in [
            "99999999999999999999", "9223372036854775807", "9223372036854775808", String(repeating: "9", count: 400),
        ] {
            expectFailure("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \(digits)\r\n\r\n", .payloadTooLarge)
        }
        expectFailure(
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 99999999999999999999\r\n\r\n",
            .badRequest
        )
    }

    // MARK: Limits at their edges

    /// A request whose header section is exactly `size` bytes, padded in an `X-Pad` header.
    func header(ofSize size: Int, body: String = "") -> String {
        let start = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \(body.utf8.count)\r\nX-Pad: "
        let end = "\r\n\r\n"
        return start + String(repeating: "p", count: size - start.utf8.count - end.utf8.count) + end + body
    }

    @Test func aHeaderSectionOfExactly8KiBIsAcceptedAndOneByteMoreIs431() throws {
        let exact = header(ofSize: 8_192)
        let request = try #require(parsed(exact))
        #expect(request.headers["x-pad"]?.utf8.count == 8_192 - 56)
        // With a body behind it, so the buffer is longer than the limit.
        let withBody = header(ofSize: 8_192, body: "hello")
        #expect(parsed(withBody)?.body == Array("hello".utf8))
        expectFailure(header(ofSize: 8_193), .headerFieldsTooLarge)
        expectFailure(header(ofSize: 8_193, body: "hello"), .headerFieldsTooLarge)
    }

    @Test func aSectionOverTheLimitFailsAsSoonAsTheLimitIsReachedWithoutMoreBytes() {
        let long = Array(header(ofSize: 9_000).utf8)
        // Fed a byte at a time: incomplete until the 8192nd byte shows the section cannot end within the limit.
        for count in stride(from: 8_150, to: 8_192, by: 1) {
            #expect(parser.parse(Array(long[..<count])) == .incomplete)
        }
        expectFailure(Array(long[..<8_192]), .headerFieldsTooLarge)
    }

    @Test func aRequestLineThatDoesNotEndWithinTheLimitIs414() {
        let line = Array(("GET /" + String(repeating: "a", count: 9_000) + " HTTP/1.1\r\nHost: h\r\n\r\n").utf8)
        expectFailure(line, .uriTooLong)
        #expect(parser.parse(Array(line[..<8_191])) == .incomplete)
        expectFailure(Array(line[..<8_192]), .uriTooLong)
        // A request line that ends within the limit, with the headers after it too long, is 431.
        let justFits = "GET /" + String(repeating: "a", count: 8_192 - 16) + " HTTP/1.1\r\n"
        #expect(justFits.utf8.count == 8_192)
        expectFailure(justFits + "Host: h\r\n\r\n", .headerFieldsTooLarge)
    }

    @Test func smallerLimitsApply() throws {
        let small = HTTPRequestParser(maximumHeaderBytes: 64, maximumBodyBytes: 4)
        let text = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcd"
        #expect(try #require(parsed(text, small)).body == Array("abcd".utf8))
        expectFailure("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabcde", .payloadTooLarge, small)
        expectFailure("GET /" + String(repeating: "a", count: 64) + " HTTP/1.1\r\n", .uriTooLong, small)
    }

    @Test func a64KiBBodyIsAcceptedAndOneByteMoreIs413() throws {
        let body = String(repeating: "b", count: 65_536)
        let request = try #require(parsed("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 65536\r\n\r\n" + body))
        #expect(request.body.count == 65_536)
        expectFailure("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 65537\r\n\r\n" + body + "b", .payloadTooLarge)
    }

    // MARK: Framing

    @Test func pipelinedRequestsParseOneAfterAnother() throws {
        let first = "POST /api/breakers/a/reset HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
        let second = "GET /api/stats HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
        let third = "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n"
        var buffer = Array((first + second + third).utf8)
        var seen: [HTTPRequest] = []
        while case .request(let request, let consumed) = parser.parse(buffer) {
            seen.append(request)
            buffer.removeFirst(consumed)
        }
        #expect(buffer.isEmpty)
        #expect(seen.map(\.path) == ["/api/breakers/a/reset", "/api/stats", "/healthz"])
        #expect(seen.map(\.body) == [Array("abc".utf8), [], []])
        #expect(seen.map(\.keepAlive) == [true, false, true])
        guard case .request(_, let consumed) = parser.parse(Array((first + second).utf8)) else {
            Issue.record("expected a request")
            return
        }
        #expect(consumed == first.utf8.count)
    }

    @Test func aRequestArrivingByteByByteIsIncompleteUntilItsLastByte() throws {
        let text = Array(
            "POST /api/breakers/db/force HTTP/1.1\r\nHost: h\r\nContent-Length: 17\r\n\r\n{\"state\":\"open\"}\n".utf8
        )
        for count in 0..<text.count {
            #expect(parser.parse(Array(text[..<count])) == .incomplete, "after \(count) bytes")
        }
        guard case .request(let request, let consumed) = parser.parse(text) else {
            Issue.record("expected a request")
            return
        }
        #expect(consumed == text.count)
        #expect(request.body.count == 17)
    }

    // MARK: Keep-alive

    @Test(arguments: [
        ("HTTP/1.1", "", true),
        ("HTTP/1.1", "Connection: close\r\n", false),
        ("HTTP/1.1", "Connection: Keep-Alive, CLOSE\r\n", false),
        ("HTTP/1.1", "Connection: upgrade\r\nconnection: close\r\n", false),
        ("HTTP/1.1", "Connection: keep-alive\r\n", true),
        ("HTTP/1.1", "Connection: closed\r\n", true),
        ("HTTP/1.0", "", false),
        ("HTTP/1.0", "Connection: keep-alive\r\n", true),
        ("HTTP/1.0", "Connection: Keep-Alive\r\n", true),
        ("HTTP/1.0", "Connection: keep-alive, close\r\n", false),
    ])
    func keepAliveFollowsTheVersionAndConnectionHeader(version: String, connection: String, keepAlive: Bool) throws {
        let request = try #require(parsed("GET / \(version)\r\nHost: h\r\n\(connection)\r\n"))
        #expect(request.keepAlive == keepAlive)
    }

    // MARK: Responses

    @Test func aResponseCarriesItsLengthAndTheDefaultHeaders() {
        let response = HTTPResponse.json(.ok, Array(#"{"ok":true}"#.utf8))
        #expect(
            written(response)
                == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
                + "X-Content-Type-Options: nosniff\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"
        )
        #expect(
            written(response, keepAlive: false).hasSuffix(
                "Content-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}"
            )
        )
    }

    @Test func aHeadResponseHasTheSameHeadersAndNoBody() {
        let response = HTTPResponse.text(.ok, "ok")
        let get = written(response)
        let head = written(response, head: true)
        #expect(get == head + "ok\n")
        #expect(head.hasSuffix("Content-Length: 3\r\n\r\n"))
        #expect(head.contains("Content-Type: text/plain; charset=utf-8\r\n"))
    }

    @Test func textAddsOneNewline() {
        #expect(HTTPResponse.text(.notFound, "not found").body == Array("not found\n".utf8))
        #expect(HTTPResponse.text(.ok, "ok\n").body == Array("ok\n".utf8))
    }

    @Test func http10KeepAliveIsConfirmed() {
        var out: [UInt8] = []
        HTTPResponse.text(.ok, "ok").write(into: &out, keepAlive: true, head: false, version: .http1_0)
        #expect(String(decoding: out, as: UTF8.self).contains("\r\nConnection: keep-alive\r\n"))
    }

    @Test func headersThatCouldSplitTheResponseAreDropped() {
        let response = HTTPResponse(
            status: .ok,
            headers: [
                ("X-Good", "yes"),
                ("X-Evil", "a\r\nSet-Cookie: x=1"),
                ("X-Evil-LF", "a\nb"),
                ("X-Evil-CR", "a\rb"),
                ("X-Evil-NUL", "a\u{00}b"),
                ("X-Evil\r\nSet-Cookie", "x=1"),
                ("X Space", "v"),
                ("X-Colon:", "v"),
                ("", "v"),
                ("Content-Length", "999"),
                ("transfer-encoding", "chunked"),
                ("Connection", "upgrade"),
                ("Cache-Control", "max-age=60"),
                ("X-UTF8", "café"),
            ],
            body: Array("hi".utf8)
        )
        let text = written(response)
        #expect(
            text
                == "HTTP/1.1 200 OK\r\nX-Good: yes\r\nCache-Control: max-age=60\r\nX-UTF8: café\r\n"
                + "X-Content-Type-Options: nosniff\r\nContent-Length: 2\r\n\r\nhi"
        )
        let evilReason = HTTPResponse(status: HTTPStatus(code: 200, reason: "OK\r\nSet-Cookie: x=1"))
        #expect(written(evilReason).hasPrefix("HTTP/1.1 200 OKSet-Cookie: x=1\r\nCache-Control: no-store\r\n"))
    }

    @Test func a204HasNoLengthAndNoBody() {
        let text = written(HTTPResponse(status: .noContent, body: Array("x".utf8)))
        #expect(text == "HTTP/1.1 204 No Content\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\r\n")
    }

    @Test func theStreamingHeadHasNoLengthAndKeepsTheConnection() {
        var out: [UInt8] = []
        HTTPResponse.writeStreamingHead(into: &out, headers: [("X-A", "1"), ("Content-Length", "5"), ("X-B", "\n")])
        #expect(
            String(decoding: out, as: UTF8.self)
                == "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Accel-Buffering: no\r\nX-A: 1\r\n"
                + "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\r\n"
        )
    }

    @Test func statusCodes() {
        let statuses: [(HTTPStatus, Int)] = [
            (.ok, 200), (.noContent, 204), (.badRequest, 400), (.unauthorized, 401), (.forbidden, 403),
            (.notFound, 404), (.methodNotAllowed, 405), (.requestTimeout, 408), (.conflict, 409),
            (.lengthRequired, 411), (.payloadTooLarge, 413), (.uriTooLong, 414), (.tooManyRequests, 429),
            (.headerFieldsTooLarge, 431), (.internalServerError, 500), (.notImplemented, 501),
            (.serviceUnavailable, 503), (.httpVersionNotSupported, 505),
        ]
        for (status, code) in statuses {
            #expect(status.code == code)
            #expect(HTTPResponse.isSafe(name: "X", value: status.reason))
        }
    }

    // MARK: Hostile input

    /// A deterministic generator, so a failure repeats (SplitMix64).
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64

        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test func randomBytesNeverTrapAndNeverParse() {
        var random = SeededGenerator(state: 15)
        for _ in 0..<3_000 {
            let bytes = (0..<Int.random(in: 0...400, using: &random)).map { _ in
                UInt8.random(in: 0...255, using: &random)
            }
            if case .request = parser.parse(bytes) {
                Issue.record("random bytes parsed as a request: \(bytes)")
            }
        }
    }

    @Test func mutatedRequestsNeverTrap() {
        var random = SeededGenerator(state: 9_001)
        let valid = Array(
            "POST /api/breakers/a%2Fb/force?x=1&y=%41 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello".utf8
        )
        let alphabet = Array(" \r\n:/%?&=+.#0123456789AaHTP\t\u{0}\u{7F}\u{FF}".utf8)
        let small = HTTPRequestParser(maximumHeaderBytes: 64, maximumBodyBytes: 8)
        for _ in 0..<5_000 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let i = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[i] = alphabet.randomElement(using: &random) ?? 0
                case 1: bytes.insert(alphabet.randomElement(using: &random) ?? 0, at: i)
                default: bytes.remove(at: i)
                }
            }
            for p in [parser, small] {
                if case .request(let request, let consumed) = p.parse(bytes) {
                    #expect(consumed <= bytes.count)
                    #expect(request.body.count <= p.maximumBodyBytes)
                }
            }
        }
    }
}
