import BreakerTLS
import CBreakerSystem

#if canImport(Glibc)
import Glibc
#endif

/// One keep-alive HTTP/1.1 connection to an etcd member's JSON gateway: blocking, with a deadline on every
/// request, `POST` only (the gateway's verbs), bodies read by `Content-Length` or chunked; over TLS when the
/// client has a context (etcd with `--cert-file`). Not thread-safe: its owner (`EtcdClient`) serializes
/// requests.
final class GatewayConnection {
    let host: String
    let port: Int
    private let tls: TLSContext?
    private var fd: Int32 = -1
    private var session: TLSSession?
    private var buffer: [UInt8] = []

    /// The most a response body may hold (a range over every breaker of a large registry stays well under it).
    static let maximumBody = 512 * 1_048_576

    init(host: String, port: Int, tls: TLSContext? = nil) {
        self.host = host
        self.port = port
        self.tls = tls
    }

    deinit { close() }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        session = nil
        buffer.removeAll()
    }

    /// `POST path` with a JSON body; the status and the body. Throws `EtcdError.unavailable` when the member
    /// cannot be reached or does not answer before `deadline` (ms on CLOCK_MONOTONIC).
    func post(_ path: String, body: [UInt8], deadlineMs: Int64) throws(EtcdError) -> (status: Int, body: [UInt8]) {
        // A kept-alive connection the member closed meanwhile fails on first use: try once more on a new one.
        for attempt in 0..<2 {
            let reused = fd >= 0
            do {
                if fd < 0 { try open(deadlineMs: deadlineMs) }
                var request = Array("POST \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\n".utf8)
                request += Array("Content-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n".utf8)
                request += body
                try send(request, deadlineMs: deadlineMs)
                return try readResponse(deadlineMs: deadlineMs)
            } catch {
                close()
                if !(reused && attempt == 0) { throw error }
            }
        }
        throw .unavailable("\(host):\(port): no answer")
    }

    static func nowMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000 + Int64(ts.tv_nsec) / 1_000_000
    }

    private func open(deadlineMs: Int64) throws(EtcdError) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let info = result else {
            throw .unavailable("\(host):\(port): cannot resolve the name")
        }
        defer { freeaddrinfo(result) }
        let socket = Glibc.socket(
            info.pointee.ai_family,
            Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue),
            0
        )
        guard socket >= 0 else { throw .unavailable("socket(): \(String(cString: strerror(errno)))") }
        var error: Int32 = 0
        if Glibc.connect(socket, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 {
            error = errno
            if error == EINPROGRESS {
                var pfd = pollfd(fd: socket, events: Int16(POLLOUT), revents: 0)
                if poll(&pfd, 1, Self.remaining(deadlineMs)) == 1 {
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(socket, SOL_SOCKET, SO_ERROR, &error, &length)
                } else {
                    error = ETIMEDOUT
                }
            }
        }
        guard error == 0 else {
            Glibc.close(socket)
            throw .unavailable("\(host):\(port): \(String(cString: strerror(error)))")
        }
        var one: Int32 = 1
        setsockopt(socket, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        fd = socket
        if let tls {
            do throws(EtcdError) {
                let session: TLSSession
                do {
                    session = try TLSSession(context: tls, serverName: host)
                } catch {
                    throw EtcdError.unavailable("\(host):\(port): TLS: \(error.message)")
                }
                try handshake(session, deadlineMs: deadlineMs)
            } catch {
                close()
                throw error
            }
        }
    }

    /// The TLS handshake with the member, within the deadline; its failure says what failed (unknown CA, name
    /// mismatch, expired, no client certificate).
    private func handshake(_ tls: TLSSession, deadlineMs: Int64) throws(EtcdError) {
        var input = [UInt8](repeating: 0, count: 16_384)
        while true {
            if let error = tls.handshake() {
                try? sendRaw(output(of: tls), deadlineMs: deadlineMs)
                throw .unavailable("\(host):\(port): TLS: \(error.message)")
            }
            try sendRaw(output(of: tls), deadlineMs: deadlineMs)
            if tls.isEstablished { break }
            let n = try receiveRaw(into: &input, deadlineMs: deadlineMs)
            input.withUnsafeBytes { tls.receive(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        session = tls
    }

    private func output(of tls: TLSSession) -> [UInt8] {
        var out: [UInt8] = []
        tls.takeOutput(appendingTo: &out)
        return out
    }

    private static func remaining(_ deadlineMs: Int64) -> Int32 { Int32(clamping: max(0, deadlineMs - nowMs())) }

    private func send(_ bytes: [UInt8], deadlineMs: Int64) throws(EtcdError) {
        guard let session else { return try sendRaw(bytes, deadlineMs: deadlineMs) }
        if let error = bytes.withUnsafeBytes({ session.write($0) }) {
            throw .unavailable("\(host):\(port): TLS: \(error.message)")
        }
        try sendRaw(output(of: session), deadlineMs: deadlineMs)
    }

    private func sendRaw(_ bytes: [UInt8], deadlineMs: Int64) throws(EtcdError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                offset += n
                continue
            }
            if n < 0 && (errno == EAGAIN || errno == EINTR) {
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                guard poll(&pfd, 1, Self.remaining(deadlineMs)) == 1 else {
                    throw .unavailable("\(host):\(port): no answer in time")
                }
                continue
            }
            throw .unavailable("\(host):\(port): sending failed: \(String(cString: strerror(errno)))")
        }
    }

    /// Reads more into `buffer` (decrypted, over TLS); throws when the member closed or the deadline passed.
    private func fill(deadlineMs: Int64) throws(EtcdError) {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        guard let session else {
            let n = try receiveRaw(into: &chunk, deadlineMs: deadlineMs)
            buffer.append(contentsOf: chunk[0..<n])
            return
        }
        while true {
            switch chunk.withUnsafeMutableBytes({ session.read(into: $0) }) {
            case .bytes(let n):
                buffer.append(contentsOf: chunk[0..<n])
                return
            case .needMore:
                var input = [UInt8](repeating: 0, count: 65_536)
                let n = try receiveRaw(into: &input, deadlineMs: deadlineMs)
                input.withUnsafeBytes { session.receive(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                try sendRaw(output(of: session), deadlineMs: deadlineMs)
            case .closed: throw .unavailable("\(host):\(port): the member closed the TLS session")
            case .failed(let error): throw .unavailable("\(host):\(port): TLS: \(error.message)")
            }
        }
    }

    /// Reads what the socket has (at least one byte) into `chunk`; the count.
    private func receiveRaw(into chunk: inout [UInt8], deadlineMs: Int64) throws(EtcdError) -> Int {
        while true {
            let n = recv(fd, &chunk, chunk.count, Int32(MSG_DONTWAIT))
            if n > 0 { return n }
            if n == 0 { throw .unavailable("\(host):\(port): the member closed the connection") }
            guard errno == EAGAIN || errno == EINTR else {
                throw .unavailable("\(host):\(port): reading failed: \(String(cString: strerror(errno)))")
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, Self.remaining(deadlineMs)) == 1 else {
                throw .unavailable("\(host):\(port): no answer in time")
            }
        }
    }

    /// The index just past the first CRLF at or after `from`, reading more as needed.
    private func line(from: Int, deadlineMs: Int64) throws(EtcdError) -> Range<Int> {
        var searchFrom = from
        while true {
            if buffer.count >= 2, searchFrom < buffer.count - 1 {
                for i in searchFrom..<(buffer.count - 1) where buffer[i] == 0x0D && buffer[i + 1] == 0x0A {
                    return from..<i
                }
                searchFrom = buffer.count - 1
            }
            guard buffer.count - from < 65_536 else { throw .malformed("\(host):\(port): an HTTP line too long") }
            try fill(deadlineMs: deadlineMs)
        }
    }

    private func readResponse(deadlineMs: Int64) throws(EtcdError) -> (status: Int, body: [UInt8]) {
        let statusLine = try line(from: 0, deadlineMs: deadlineMs)
        let status = String(decoding: buffer[statusLine], as: UTF8.self).split(separator: " ")
        guard status.count >= 2, let code = Int(status[1]) else {
            throw .malformed("\(host):\(port): not an HTTP response")
        }
        var position = statusLine.upperBound + 2
        var contentLength: Int?
        var chunked = false
        var keepAlive = true
        while true {
            let header = try line(from: position, deadlineMs: deadlineMs)
            position = header.upperBound + 2
            if header.isEmpty { break }
            let text = String(decoding: buffer[header], as: UTF8.self)
            guard let colon = text.firstIndex(of: ":") else { continue }
            let name = text[..<colon].lowercased()
            let value = text[text.index(after: colon)...].trimmingCharacters(in: " \t").lowercased()
            switch name {
            case "content-length": contentLength = Int(value)
            case "transfer-encoding": chunked = value.contains("chunked")
            case "connection": keepAlive = value != "close"
            default: break
            }
        }
        var body: [UInt8] = []
        if chunked {
            while true {
                let sizeLine = try line(from: position, deadlineMs: deadlineMs)
                let sizeText = String(decoding: buffer[sizeLine], as: UTF8.self).split(separator: ";").first ?? ""
                guard let size = Int(sizeText.trimmingCharacters(in: " "), radix: 16), size >= 0 else {
                    throw .malformed("\(host):\(port): a bad chunk size")
                }
                position = sizeLine.upperBound + 2
                if size == 0 {
                    _ = try line(from: position, deadlineMs: deadlineMs)  // the empty line after the last chunk
                    position += 2
                    break
                }
                guard body.count + size <= Self.maximumBody else { throw .malformed("\(host):\(port): too large") }
                while buffer.count < position + size + 2 { try fill(deadlineMs: deadlineMs) }
                body += buffer[position..<(position + size)]
                position += size + 2
            }
        } else if let contentLength {
            guard contentLength <= Self.maximumBody else { throw .malformed("\(host):\(port): too large") }
            while buffer.count < position + contentLength { try fill(deadlineMs: deadlineMs) }
            body = Array(buffer[position..<(position + contentLength)])
            position += contentLength
        } else {
            throw .malformed("\(host):\(port): a response without a length")
        }
        buffer.removeFirst(position)
        if !keepAlive { close() }
        return (code, body)
    }
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}
