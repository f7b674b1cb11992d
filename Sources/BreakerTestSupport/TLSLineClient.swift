public import BreakerProtocol
public import BreakerTLS
import Glibc

/// A blocking line-protocol client over TLS, for tests of breakerd's TLS port: a `LineClient`'s socket with a
/// `TLSSession` between it and the lines.
public final class TLSLineClient {
    public let socket: LineClient
    private let session: TLSSession
    private var plain: [UInt8] = []

    /// Connects and completes the handshake; throws the handshake's failure (`TLSError`).
    public init(
        port: Int,
        context: TLSContext,
        serverName: String = "127.0.0.1",
        timeout: Duration = .seconds(10)
    )
        throws
    {
        socket = try LineClient(port: port)
        session = try TLSSession(context: context, serverName: serverName)
        if let error = session.handshake() { throw error }
        try flushOutput()
        let deadline = ContinuousClock.now + timeout
        while !session.isEstablished {
            guard ContinuousClock.now < deadline else { throw LineClient.Failure(description: "no handshake in time") }
            guard try pump(until: deadline) else {
                throw LineClient.Failure(description: "the server closed the connection during the handshake")
            }
        }
        // TLS 1.3: the server's verdict on our certificate comes after our Finished; read what is already there.
        try flushOutput()
    }

    /// Sends one request line and reads one reply line as JSON.
    public func request(_ line: String, timeout: Duration = .seconds(10)) throws -> JSONValue {
        let bytes = Array((line + "\n").utf8)
        if let error = bytes.withUnsafeBytes({ session.write($0) }) { throw error }
        try flushOutput()
        guard let reply = try readLine(timeout: timeout) else {
            throw LineClient.Failure(description: "connection closed")
        }
        return try JSONParser.parse(Array(reply.utf8))
    }

    /// Sends request lines without reading their replies (read them with `readLine`).
    public func send(_ lines: [String]) throws {
        let bytes = Array(lines.map { $0 + "\n" }.joined().utf8)
        if let error = bytes.withUnsafeBytes({ session.write($0) }) { throw error }
        try flushOutput()
    }

    /// The next line of plain text, nil when the server closed; throws the session's failure.
    public func readLine(timeout: Duration = .seconds(10)) throws -> String? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let nl = plain.firstIndex(of: 0x0A) {
                defer { plain.removeSubrange(...nl) }
                return String(decoding: plain[..<nl], as: UTF8.self)
            }
            guard try pump(until: deadline) else { return nil }
        }
    }

    /// Reads what arrives and decrypts it; false when the server closed.
    private func pump(until deadline: ContinuousClock.Instant) throws -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16_384)
        let remaining = deadline - ContinuousClock.now
        guard remaining > .zero else { throw LineClient.Failure(description: "nothing in time") }
        var pfd = pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0)
        let ms = Int32(clamping: remaining.components.seconds * 1_000 + 1)
        guard poll(&pfd, 1, ms) > 0 else { throw LineClient.Failure(description: "nothing in time") }
        let n = recv(socket.fd, &buffer, buffer.count, 0)
        guard n > 0 else { return false }
        buffer.withUnsafeBytes { session.receive(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        loop: while true {
            let result = buffer.withUnsafeMutableBytes { session.read(into: $0) }
            switch result {
            case .bytes(let k): plain.append(contentsOf: buffer[0..<k])
            case .needMore: break loop
            case .closed: return false
            case .failed(let error):
                // Send the alert that tells the server why, as a real client does.
                try? flushOutput()
                throw error
            }
        }
        try flushOutput()
        return true
    }

    private func flushOutput() throws {
        var out: [UInt8] = []
        session.takeOutput(appendingTo: &out)
        if !out.isEmpty { try socket.send(bytes: out) }
    }
}
