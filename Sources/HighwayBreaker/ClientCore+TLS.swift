import BreakerTLS

/// TLS on the client's connection (issue #18): the handshake when a connection opens, and decryption of what
/// arrives. Encryption happens in `flush`, under the same lock.
extension ClientCore {
    /// The TLS handshake on a new connection, within `connectTimeout`; its failure says what failed (unknown CA,
    /// name mismatch, expired, no client certificate).
    func handshake(
        fd: Int32,
        tls: BreakerClient.TLSConfiguration,
        host: String
    ) -> Result<TLSChannel, BreakerClientError> {
        let channel: TLSChannel
        do {
            channel = TLSChannel(
                session: try TLSSession(context: tls.context, serverName: tls.serverName ?? host)
            )
        } catch {
            return .failure(BreakerClientError(code: .unavailable, message: "TLS: \(error.message)"))
        }
        let ms = Int(clamping: configuration.connectTimeout.millisecondsRoundedUp)
        if let problem = channel.handshake(fd: fd, timeoutMs: ms) {
            return .failure(BreakerClientError(code: .unavailable, message: "TLS handshake failed: \(problem)"))
        }
        return .success(channel)
    }

    /// Decrypts received bytes under the state lock (the session is not thread-safe, and callers encrypt under
    /// the same lock). Returns why the connection ended, if it did.
    func decrypt(_ bytes: ArraySlice<UInt8>, appendingTo buffer: inout [UInt8]) -> String? {
        state.withLock { s -> String? in
            guard let tls = s.tls else { return "the connection ended" }
            let result = tls.receive(bytes, appendingTo: &buffer)
            Self.flush(&s)
            switch result {
            case .open: return nil
            case .closed: return "the server closed the TLS session"
            case .failed(let error): return "TLS failed: \(error.message)"
            }
        }
    }
}
