import CTLS

/// A configured OpenSSL context (`SSL_CTX`): the certificate, key and trusted CAs of one side. TLS 1.2 and 1.3
/// only, with OpenSSL's default ciphers; renegotiation off. Immutable once made (a reload makes a new one), so
/// it may be shared by every thread.
public final class TLSContext: @unchecked Sendable {
    let context: OpaquePointer
    /// True for a server's context.
    public let isServer: Bool
    /// True when a server requires (and verifies) a client certificate.
    public let requiresClientCertificate: Bool

    private init(_ context: OpaquePointer, isServer: Bool, requiresClientCertificate: Bool) {
        self.context = context
        self.isServer = isServer
        self.requiresClientCertificate = requiresClientCertificate
    }

    deinit { SSL_CTX_free(context) }

    /// OpenSSL, initialised before its first use without its exit-time cleanup: our processes exit with threads
    /// still holding TLS sessions (a client's I/O thread, breakerd's event loops), and that cleanup freeing
    /// OpenSSL's state beside them crashed breakerctl once ("double free or corruption"). The system takes the
    /// memory back at exit anyway.
    private static let initialized: Bool = OPENSSL_init_crypto(UInt64(OPENSSL_INIT_NO_ATEXIT), nil) == 1

    /// A server's context: its certificate chain and key (PEM files), and, for mutual TLS, the CA that must have
    /// signed every client's certificate.
    public static func server(
        certificateFile: String,
        keyFile: String,
        clientCAFile: String? = nil
    ) throws(TLSError) -> TLSContext {
        _ = initialized
        guard let ctx = SSL_CTX_new(TLS_server_method()) else { throw TLSError("SSL_CTX_new: \(lastError())") }
        let context = TLSContext(ctx, isServer: true, requiresClientCertificate: clientCAFile != nil)
        try context.common()
        try context.use(certificateFile: certificateFile, keyFile: keyFile)
        if let clientCAFile {
            guard SSL_CTX_load_verify_locations(ctx, clientCAFile, nil) == 1 else {
                throw TLSError("cannot read the client CA file \(clientCAFile): \(lastError())")
            }
            if let names = SSL_load_client_CA_file(clientCAFile) { SSL_CTX_set_client_CA_list(ctx, names) }
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        }
        return context
    }

    /// A client's context: the CA that signed the server's certificate (nil: the system's trusted CAs), and
    /// optionally a certificate and key to present (for a server that requires one).
    public static func client(
        caFile: String?,
        certificateFile: String? = nil,
        keyFile: String? = nil
    ) throws(TLSError) -> TLSContext {
        _ = initialized
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw TLSError("SSL_CTX_new: \(lastError())") }
        let context = TLSContext(ctx, isServer: false, requiresClientCertificate: false)
        try context.common()
        if let caFile {
            guard SSL_CTX_load_verify_locations(ctx, caFile, nil) == 1 else {
                throw TLSError("cannot read the CA file \(caFile): \(lastError())")
            }
        } else {
            SSL_CTX_set_default_verify_paths(ctx)
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        switch (certificateFile, keyFile) {
        case (let cert?, let key?): try context.use(certificateFile: cert, keyFile: key)
        case (nil, nil): break
        default: throw TLSError("a client certificate needs both its certificate file and its key file")
        }
        return context
    }

    private func common() throws(TLSError) {
        guard ctls_set_min_proto_version(context, ctls_tls1_2_version()) == 1 else {
            throw TLSError("cannot require TLS 1.2 or later: \(Self.lastError())")
        }
        _ = ctls_set_options(context, ctls_op_no_renegotiation())
    }

    private func use(certificateFile: String, keyFile: String) throws(TLSError) {
        guard SSL_CTX_use_certificate_chain_file(context, certificateFile) == 1 else {
            throw TLSError("cannot read the certificate file \(certificateFile): \(Self.lastError())")
        }
        guard SSL_CTX_use_PrivateKey_file(context, keyFile, SSL_FILETYPE_PEM) == 1 else {
            let reason = Self.lastError()
            if reason.contains("key values mismatch") {
                throw TLSError("the key in \(keyFile) does not match the certificate in \(certificateFile)")
            }
            throw TLSError("cannot read the key file \(keyFile): \(reason)")
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw TLSError("the key in \(keyFile) does not match the certificate in \(certificateFile)")
        }
    }

    /// OpenSSL's reason for the last failure on this thread (and clears the queue).
    static func lastError() -> String {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            // "error:0A000086:SSL routines::certificate verify failed" → the reason after the last colon.
            reasons.append(String(text.split(separator: ":", omittingEmptySubsequences: false).last ?? ""))
        }
        return reasons.isEmpty ? "unknown error" : reasons.joined(separator: "; ")
    }
}
