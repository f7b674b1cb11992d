import BreakerTLS

extension BreakerClient {
    /// TLS for the connection to breakerd (breakerd's `--tls-cert`/`--tls-key`; with `--tls-client-ca` it also
    /// needs a client certificate). Setting ``Configuration/tls`` turns TLS on; the files are read once, when the
    /// configuration is made, so a missing or broken file is an error at start-up rather than at every
    /// reconnection.
    public struct TLSConfiguration: Sendable {
        /// The CA certificate (PEM) that signed breakerd's certificate; nil trusts the system's CAs.
        public let caFile: String?
        /// This client's certificate (PEM), for a server that requires one (mutual TLS).
        public let certificateFile: String?
        /// The key (PEM) of `certificateFile`.
        public let keyFile: String?
        /// The name (DNS name or IP address) breakerd's certificate must be for; nil: the configuration's host.
        public let serverName: String?
        /// The OpenSSL context made from the files, shared by every connection of the client.
        let context: TLSContext

        /// Reads the files and checks that they go together.
        ///
        /// - Parameters:
        ///   - caFile: the CA (PEM) that signed breakerd's certificate; nil: the system's trusted CAs.
        ///   - certificateFile: a client certificate (PEM) to present; needs `keyFile`.
        ///   - keyFile: the key (PEM) of `certificateFile`.
        ///   - serverName: the name to verify breakerd's certificate against; nil: the host connected to.
        /// - Throws: ``ConfigurationError`` naming the file that could not be used and why.
        public init(
            caFile: String? = nil,
            certificateFile: String? = nil,
            keyFile: String? = nil,
            serverName: String? = nil
        ) throws(ConfigurationError) {
            do {
                context = try TLSContext.client(caFile: caFile, certificateFile: certificateFile, keyFile: keyFile)
            } catch {
                throw ConfigurationError.invalidValue("TLS", error.message)
            }
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.serverName = serverName
        }
    }
}
