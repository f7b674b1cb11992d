public import BreakerProtocol

/// A blocking HTTP/1.1 client over a real socket, for tests of breakerd's HTTP port: sends raw request bytes
/// (so malformed requests can be sent too) and reads responses by their `Content-Length`.
public final class HTTPTestClient {
    /// One response as received.
    public struct Response: Sendable {
        public var status: Int
        /// Header names in lower case.
        public var headers: [String: String]
        public var body: [UInt8]

        public var text: String { String(decoding: body, as: UTF8.self) }

        /// The body parsed as JSON (`.null` when it is not JSON).
        public var json: JSONValue { (try? JSONParser.parse(body)) ?? .null }
    }

    public let connection: LineClient
    /// The `Host` header sent (the server's address, as a browser would send it).
    public let host: String

    public init(port: Int) throws {
        connection = try LineClient(port: port)
        host = "127.0.0.1:\(port)"
    }

    /// Sends raw bytes (a whole request, part of one, or several).
    public func send(raw: String) throws { try connection.send(raw: raw) }

    /// Sends a request with `Host`, the given headers, and `Content-Length` when there is a body (and
    /// `Content-Type: application/json` for a `POST`, unless the headers name one).
    public func send(
        _ method: String,
        _ target: String,
        headers: [(String, String)] = [],
        body: String? = nil
    ) throws {
        var text = "\(method) \(target) HTTP/1.1\r\n"
        if !headers.contains(where: { $0.0.lowercased() == "host" }) { text += "Host: \(host)\r\n" }
        if method == "POST" && !headers.contains(where: { $0.0.lowercased() == "content-type" }) {
            text += "Content-Type: application/json\r\n"
        }
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if let body { text += "Content-Length: \(body.utf8.count)\r\n" }
        text += "\r\n" + (body ?? "")
        try send(raw: text)
    }

    /// Sends a request and reads its response.
    public func request(
        _ method: String,
        _ target: String,
        headers: [(String, String)] = [],
        body: String? = nil
    ) throws -> Response {
        try send(method, target, headers: headers, body: body)
        guard let response = try readResponse(head: method == "HEAD") else {
            throw LineClient.Failure(description: "the server closed the connection without a response")
        }
        return response
    }

    /// The next response (nil when the connection closed first). `head`: no body follows (a HEAD request).
    public func readResponse(head: Bool = false, timeout: Duration = .seconds(10)) throws -> Response? {
        guard let statusLine = try connection.readLine(timeout: timeout) else { return nil }
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw LineClient.Failure(description: "not a status line: \(statusLine)")
        }
        var headers: [String: String] = [:]
        while let line = try connection.readLine(timeout: timeout) {
            let field = line.hasSuffix("\r") ? String(line.dropLast()) : line
            if field.isEmpty { break }
            guard let colon = field.firstIndex(of: ":") else { continue }
            let value = field[field.index(after: colon)...].drop { $0 == " " }
            headers[field[..<colon].lowercased()] = String(value)
        }
        let length = head ? 0 : Int(headers["content-length"] ?? "0") ?? 0
        let body = try connection.readBytes(length, timeout: timeout)
        return Response(status: status, headers: headers, body: body)
    }
}
