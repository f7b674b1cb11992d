import BreakerTLS
import CBreakerSystem

#if canImport(Glibc)
import Glibc
#endif

/// The client's TLS session and the encrypted bytes not yet taken by the socket.
///
/// `@unchecked Sendable`: OpenSSL's session is not thread-safe, and this object is only ever used under the
/// client's state lock (it lives in `ClientCore.State`), or by the I/O thread before it is installed there.
final class TLSChannel: @unchecked Sendable {
    let session: TLSSession
    /// Encrypted bytes waiting for the socket; `sent` of them at the front are already sent.
    private var cipher: [UInt8] = []
    private var sent = 0

    init(session: TLSSession) { self.session = session }

    /// Encrypted bytes not yet sent.
    var unsent: Int { cipher.count - sent }

    /// Encrypts `plaintext` (all of it) into the bytes to send.
    func encrypt(_ plaintext: UnsafeRawBufferPointer) -> TLSError? {
        if let error = session.write(plaintext) { return error }
        session.takeOutput(appendingTo: &cipher)
        return nil
    }

    /// Sends what the socket takes now (non-blocking).
    func send(to fd: Int32) {
        session.takeOutput(appendingTo: &cipher)
        guard sent < cipher.count else { return }
        let start = sent
        let n = cipher.withUnsafeBytes {
            Glibc.send(fd, $0.baseAddress! + start, $0.count - start, Int32(MSG_NOSIGNAL))
        }
        if n > 0 { sent += n }
        if sent == cipher.count {
            cipher.removeAll(keepingCapacity: true)
            sent = 0
        } else if sent > 65_536 && sent > cipher.count / 2 {
            cipher.removeFirst(sent)
            sent = 0
        }
    }

    /// What decrypting received bytes ended in.
    enum Received {
        case open
        case closed
        case failed(TLSError)
    }

    /// Decrypts `bytes` from the network and appends the plaintext to `plaintext`.
    func receive(_ bytes: ArraySlice<UInt8>, appendingTo plaintext: inout [UInt8]) -> Received {
        bytes.withUnsafeBytes { session.receive($0) }
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            switch chunk.withUnsafeMutableBytes({ session.read(into: $0) }) {
            case .bytes(let n): plaintext.append(contentsOf: chunk[0..<n])
            case .needMore: return .open
            case .closed: return .closed
            case .failed(let error): return .failed(error)
            }
        }
    }

    /// Runs the handshake on a connected non-blocking socket until it completes, fails, or `timeoutMs` passes.
    /// Nil when established; otherwise what went wrong.
    func handshake(fd: Int32, timeoutMs: Int) -> String? {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let end = Int(deadline.tv_sec) * 1_000 + Int(deadline.tv_nsec) / 1_000_000 + timeoutMs
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            if let error = session.handshake() {
                send(to: fd)
                return error.message
            }
            send(to: fd)
            if session.isEstablished && unsent == 0 { return nil }
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let left = end - (Int(now.tv_sec) * 1_000 + Int(now.tv_nsec) / 1_000_000)
            guard left > 0 else { return "no TLS handshake within \(timeoutMs) ms" }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN) | (unsent > 0 ? Int16(POLLOUT) : 0), revents: 0)
            guard poll(&pfd, 1, Int32(clamping: left)) > 0 else { continue }
            guard pfd.revents & (Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)) != 0 else { continue }
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n == 0 { return "the server closed the connection during the TLS handshake (is the port TLS?)" }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK { continue }
                return "reading failed during the TLS handshake: \(String(cString: strerror(errno)))"
            }
            buffer.withUnsafeBytes { session.receive(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }
}
