public import BreakerProtocol
import Glibc

/// A blocking line-protocol client over a real TCP socket, with timeouts: what tests use to talk to a live
/// server. Not for production (one thread, no pipelining state).
///
/// `@unchecked Sendable`: one thread may send while another reads. Sending touches only the descriptor;
/// `buffer` is used only by the one thread that reads.
public final class LineClient: @unchecked Sendable {
    /// Why a client call failed.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    public let fd: Int32
    private var buffer: [UInt8] = []

    /// Connects to `host:port`. `receiveBuffer` shrinks the socket's receive buffer (bytes), for slow-reader
    /// tests.
    public init(host: String = "127.0.0.1", port: Int, receiveBuffer: Int? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        if var size = receiveBuffer.map(Int32.init) {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw Failure(description: "connect to \(host):\(port): errno \(e)")
        }
    }

    deinit { close(fd) }

    /// Sends `text` as is (add "\n" yourself to end a line).
    /// Shuts the write side (`shutdown(SHUT_WR)`): the server sees the end of input, and replies still arrive.
    public func closeWrite() {
        shutdown(fd, Int32(SHUT_WR))
    }

    public func send(raw text: String) throws {
        try send(bytes: Array(text.utf8))
    }

    /// Sends raw bytes, all of them.
    public func send(bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "send: errno \(errno)")
            }
            offset += n
        }
    }

    /// Sends one request line.
    public func send(_ line: String) throws {
        try send(raw: line + "\n")
    }

    /// The next line (without "\n"), or nil when the server closed the connection. Throws on timeout.
    public func readLine(timeout: Duration = .seconds(10)) throws -> String? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let nl = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<nl], as: UTF8.self)
                buffer.removeSubrange(...nl)
                return line
            }
            guard try receiveMore(before: deadline, timeout: timeout) else {
                if buffer.isEmpty { return nil }
                let line = String(decoding: buffer, as: UTF8.self)
                buffer.removeAll()
                return line
            }
        }
    }

    /// The next `count` bytes, or fewer when the server closed the connection first. Throws on timeout.
    public func readBytes(_ count: Int, timeout: Duration = .seconds(10)) throws -> [UInt8] {
        let deadline = ContinuousClock.now + timeout
        while buffer.count < count {
            guard try receiveMore(before: deadline, timeout: timeout) else { break }
        }
        let n = min(count, buffer.count)
        defer { buffer.removeSubrange(..<n) }
        return Array(buffer[..<n])
    }

    /// Reads what arrives into `buffer`; false when the server closed (or reset) the connection.
    private func receiveMore(before deadline: ContinuousClock.Instant, timeout: Duration) throws -> Bool {
        while true {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { throw Failure(description: "nothing within \(timeout)") }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ms = Int32(
                clamping: remaining.components.seconds * 1_000 + remaining.components.attoseconds
                    / 1_000_000_000_000_000 + 1
            )
            let ready = poll(&pfd, 1, ms)
            if ready < 0 && errno == EINTR { continue }
            if ready == 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let n = recv(fd, &chunk, chunk.count, 0)
            if n == 0 { return false }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                if errno == ECONNRESET { return false }
                throw Failure(description: "recv: errno \(errno)")
            }
            buffer.append(contentsOf: chunk[0..<n])
            return true
        }
    }

    /// The next line parsed as JSON. Throws when the connection closed or the line is not JSON.
    public func readJSON(timeout: Duration = .seconds(10)) throws -> JSONValue {
        guard let line = try readLine(timeout: timeout) else { throw Failure(description: "connection closed") }
        do {
            return try JSONParser.parse(Array(line.utf8))
        } catch {
            throw Failure(description: "not JSON: \(line) (\(error))")
        }
    }

    /// Sends one request and reads one line back as JSON.
    @discardableResult
    public func request(_ line: String, timeout: Duration = .seconds(10)) throws -> JSONValue {
        try send(line)
        return try readJSON(timeout: timeout)
    }

    /// True when the server closes the connection (or resets it) within `timeout` with nothing more to read
    /// than `allowing` lines.
    public func waitForClose(timeout: Duration = .seconds(10)) throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            do {
                guard try readLine(timeout: deadline - ContinuousClock.now) != nil else { return true }
            } catch {
                return false
            }
        }
        return false
    }
}

extension JSONValue {
    /// The value as a string, or nil.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The value as an integer, or nil.
    public var intValue: Int? {
        if case .integer(let i) = self { return Int(i) }
        return nil
    }

    /// The value as a boolean, or nil.
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The value as an array, or nil.
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The value's members, or nil.
    public var objectValue: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// `error.code` of an error reply.
    public var errorCode: String? { self["error"]?["code"]?.stringValue }

    /// `error.message` of an error reply.
    public var errorMessage: String? { self["error"]?["message"]?.stringValue }

    /// True for `{"ok":true,…}`.
    public var isOK: Bool { self["ok"] == .bool(true) }

    /// The value as compact JSON text.
    public var jsonText: String {
        var w = JSONWriter()
        w.value(self)
        return String(decoding: w.bytes, as: UTF8.self)
    }
}
