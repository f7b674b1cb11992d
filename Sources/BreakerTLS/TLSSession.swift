import CTLS

/// One TLS connection's protocol state over memory buffers: the caller moves bytes between the socket and the
/// session, so the session works inside a non-blocking event loop (no thread, no blocking call) and never
/// writes to the socket itself (no SIGPIPE). Not thread-safe: one owner at a time.
///
/// ```swift
/// session.receive(bytesFromSocket)
/// switch session.read(into: buffer) { … }     // handshake happens on the way
/// session.write(plaintext)
/// session.takeOutput(appendingTo: &toSend)     // then send(2) them
/// ```
public final class TLSSession {
    /// What `read(into:)` found.
    public enum ReadResult {
        /// `n` bytes of plaintext were copied into the buffer.
        case bytes(Int)
        /// Nothing to read until more network bytes arrive (or the handshake is still under way).
        case needMore
        /// The peer closed the TLS session (close_notify).
        case closed
        /// The handshake or a record failed; the connection must be closed (send `takeOutput` first: it may
        /// hold an alert that tells the peer why).
        case failed(TLSError)
    }

    private let ssl: OpaquePointer
    private let input: OpaquePointer
    private var output: OpaquePointer
    private let isServer: Bool
    private let serverName: String?
    /// True once the handshake has completed.
    public private(set) var isEstablished = false

    /// A session for one connection. A client gives the name (DNS name or IP address) the server's certificate
    /// must be for.
    public init(context: TLSContext, serverName: String? = nil) throws(TLSError) {
        guard let ssl = SSL_new(context.context) else { throw TLSError("SSL_new: \(TLSContext.lastError())") }
        guard let input = BIO_new(BIO_s_mem()), let output = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError("BIO_new failed (out of memory)")
        }
        SSL_set_bio(ssl, input, output)  // the SSL now owns both
        self.ssl = ssl
        self.input = input
        self.output = output
        self.isServer = context.isServer
        self.serverName = serverName
        if context.isServer {
            SSL_set_accept_state(ssl)
        } else {
            SSL_set_connect_state(ssl)
            if let serverName {
                if Self.isIPAddress(serverName) {
                    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), serverName)
                } else {
                    _ = ctls_set_host_name(ssl, serverName)
                    SSL_set1_host(ssl, serverName)
                }
            }
        }
    }

    deinit { SSL_free(ssl) }

    /// Hands the session bytes received from the network.
    public func receive(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        _ = BIO_write(input, bytes.baseAddress, Int32(clamping: bytes.count))
    }

    /// Starts or advances the handshake without reading application data (a client calls it once to produce
    /// its first flight). Nil when it goes on or is done; the failure otherwise.
    @discardableResult
    public func handshake() -> TLSError? {
        guard !isEstablished else { return nil }
        clearErrors()
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            isEstablished = true
            return nil
        }
        let error = SSL_get_error(ssl, rc)
        if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { return nil }
        return failure()
    }

    /// Decrypts into `buffer` what has arrived, advancing the handshake first when needed.
    public func read(into buffer: UnsafeMutableRawBufferPointer) -> ReadResult {
        if !isEstablished {
            if let error = handshake() { return .failed(error) }
            guard isEstablished else { return .needMore }
        }
        // Nothing arrived and nothing is buffered: no need to ask (an SSL_read that says so costs a lot more).
        if BIO_ctrl_pending(input) == 0 && SSL_has_pending(ssl) == 0 { return .needMore }
        clearErrors()
        let n = SSL_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
        if n > 0 { return .bytes(Int(n)) }
        switch SSL_get_error(ssl, n) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .needMore
        case SSL_ERROR_ZERO_RETURN: return .closed
        default: return .failed(failure())
        }
    }

    /// Encrypts `plaintext` into the output (all of it: the output buffer grows). Only once established.
    public func write(_ plaintext: UnsafeRawBufferPointer) -> TLSError? {
        var offset = 0
        while offset < plaintext.count {
            clearErrors()
            let n = SSL_write(ssl, plaintext.baseAddress! + offset, Int32(clamping: plaintext.count - offset))
            guard n > 0 else { return failure() }
            offset += Int(n)
        }
        return nil
    }

    /// Bytes waiting to be sent to the network.
    public var pendingOutput: Int { Int(BIO_ctrl_pending(output)) }

    /// Appends the bytes to send to the network to `bytes`.
    public func takeOutput(appendingTo bytes: inout [UInt8]) {
        sendOutput { records in
            bytes.append(contentsOf: records)
            return records.count
        }
    }

    /// Offers the bytes waiting for the network to `send`, in place (no copy), and drops the first ones, as many
    /// as `send` returns it took (0 or a negative count: none). Returns that count; 0 when nothing was waiting.
    ///
    /// Take all or nothing where you can: the next write or offer moves what a partial take left to the front of
    /// the buffer (a copy of all of it), so a caller whose socket took only part should keep the rest in a buffer
    /// of its own (and return the whole count). The buffer is released once empty if a burst grew it past
    /// `keepingCapacity` bytes.
    @discardableResult
    public func sendOutput(keepingCapacity: Int = 1 << 20, _ send: (UnsafeRawBufferPointer) -> Int) -> Int {
        guard let memory = outputMemory, memory.pointee.length > 0, let start = memory.pointee.data else { return 0 }
        let length = memory.pointee.length
        let taken = send(UnsafeRawBufferPointer(start: start, count: length))
        guard taken > 0 else { return taken }
        // The read position, from the front (OpenSSL 3's memory BIOs seek; were one not to, read the bytes away).
        let consumed = min(taken, length)
        if BIO_ctrl(output, BIO_C_FILE_SEEK, consumed, nil) != consumed {
            var discard = [UInt8](repeating: 0, count: consumed)
            _ = discard.withUnsafeMutableBytes { BIO_read(output, $0.baseAddress, Int32(clamping: $0.count)) }
        }
        if consumed == length && memory.pointee.max > keepingCapacity, let fresh = BIO_new(BIO_s_mem()) {
            // A memory BIO never gives memory back: after a burst (a list of every breaker), a fresh one.
            SSL_set0_wbio(ssl, fresh)  // frees the old one
            output = fresh
        }
        return taken
    }

    /// The output BIO's buffer, with what is unread moved to its front (nothing moves when the last offer was
    /// all taken).
    private var outputMemory: UnsafeMutablePointer<BUF_MEM>? {
        var memory: UnsafeMutablePointer<BUF_MEM>?
        BIO_ctrl(output, BIO_C_GET_BUF_MEM_PTR, 0, &memory)
        return memory
    }

    /// Asks for a TLS 1.3 key update, the peer to update its keys too (sent with the next write).
    func requestKeyUpdate() -> Bool { SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) == 1 }

    /// The bytes the output buffer holds allocated (what `sendOutput(keepingCapacity:_:)` gives back).
    var outputBufferCapacity: Int { outputMemory?.pointee.max ?? 0 }

    /// Writes a close_notify into the output (send it, then close the socket).
    public func close() {
        if isEstablished { SSL_shutdown(ssl) }
    }

    /// The subject common name of the peer's verified certificate, if it presented one.
    public var peerCommonName: String? {
        guard isEstablished, let certificate = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(certificate) }
        guard SSL_get_verify_result(ssl) == X509_V_OK, let name = X509_get_subject_name(certificate) else { return nil }
        let index = X509_NAME_get_index_by_NID(name, NID_commonName, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(name, index), let data = X509_NAME_ENTRY_get_data(entry)
        else { return nil }
        var utf8: UnsafeMutablePointer<UInt8>?
        let length = ASN1_STRING_to_UTF8(&utf8, data)
        guard length >= 0, let utf8 else { return nil }
        defer { CRYPTO_free(utf8, #fileID, #line) }
        return String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self)
    }

    /// The protocol version negotiated ("TLSv1.3").
    public var protocolVersion: String { String(cString: SSL_get_version(ssl)) }

    /// Empties this thread's OpenSSL error queue, as SSL_get_error needs before each call. The queue is nearly
    /// always empty already: a look is much cheaper than a clear.
    @inline(__always)
    private func clearErrors() {
        if ERR_peek_error() != 0 { ERR_clear_error() }
    }

    /// What failed, in an operator's words, then OpenSSL's reason.
    private func failure() -> TLSError {
        let verify = SSL_get_verify_result(ssl)
        let reasons = TLSContext.lastError()
        let whose = isServer ? "the client's certificate" : "the server's certificate"
        if verify != X509_V_OK {
            let detail = String(cString: X509_verify_cert_error_string(verify))
            switch Int32(verify) {
            case X509_V_ERR_CERT_HAS_EXPIRED:
                return TLSError("\(whose) has expired (\(detail))")
            case X509_V_ERR_CERT_NOT_YET_VALID:
                return TLSError("\(whose) is not valid yet (\(detail))")
            case X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH:
                return TLSError("name mismatch: \(whose) is not for \(serverName ?? "the name asked for") (\(detail))")
            case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
                X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
                X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
                return TLSError("unknown CA: \(whose) is not signed by a CA this side trusts (\(detail))")
            default:
                return TLSError("\(whose) failed verification: \(detail)")
            }
        }
        let lower = reasons.lowercased()
        if lower.contains("peer did not return a certificate") {
            return TLSError("no client certificate: this server requires one (mutual TLS)")
        }
        if lower.contains("certificate required") {
            return TLSError("no client certificate: the server requires one; give a certificate and its key")
        }
        if lower.contains("unknown ca") {
            return TLSError("unknown CA: the peer does not trust the CA that signed our certificate (\(reasons))")
        }
        if lower.contains("certificate expired") {
            return TLSError("the peer refused our certificate: it has expired (\(reasons))")
        }
        if lower.contains("wrong version number") || lower.contains("http request") || lower.contains("packet length")
            || lower.contains("unexpected eof")
        {
            return TLSError("not TLS: the peer does not speak TLS on this port (\(reasons))")
        }
        return TLSError("TLS failed: \(reasons)")
    }

    private static func isIPAddress(_ text: String) -> Bool {
        text.contains(":") || (!text.isEmpty && text.allSatisfy { $0 == "." || $0.isNumber })
    }
}
