import BreakerProtocol

extension BreakerClient {
    /// Where and how to connect.
    public struct Configuration: Sendable {
        /// The server's host (a name or a numeric address).
        public var host: String
        /// The server's port.
        public var port: Int
        /// The token for `hello`, when the server requires one.
        public var token: String?
        /// A name for the server's logs and audit log (sent in `hello`).
        public var clientName: String?
        /// How long `acquire` and `report` wait for a reply.
        public var requestTimeout: Duration = .milliseconds(100)
        /// How long other operations wait for a reply.
        public var adminTimeout: Duration = .seconds(5)
        /// In leased mode, how often the client sends its `lease` line (counts and renewals for every leased
        /// resource); a counted failure sends one sooner, at most every 5 ms. At least 1 ms; default 50 ms.
        public var leaseFlushInterval: Duration = .milliseconds(50)
        /// TLS for the connection (nil: plain TCP). Set it to talk to a breakerd started with `--tls-cert`.
        public var tls: TLSConfiguration?
        /// How long one connection attempt may take (with TLS, the handshake included).
        public var connectTimeout: Duration = .milliseconds(500)
        /// Waits between reconnection attempts (the first retry waits `minDelay`; none waits longer than
        /// `maxDelay`, the reconnect delay that fallback rejections name).
        public var reconnectBackoff: Backoff = try! Backoff(
            minDelay: .milliseconds(50),
            maxDelay: .seconds(1),
            factor: 2,
            jitter: 0.2
        )

        /// The first token in a token file (the format `TokenFile` reads, as breakerd's
        /// `--client-token-file` and `--admin-token-file` hold them).
        public static func readToken(fromFile path: String) throws(ConfigurationError) -> String {
            do {
                return try TokenFile.first(path)
            } catch {
                throw ConfigurationError.invalidValue("token file", "\(path): \(error.problem)")
            }
        }

        /// Creates a configuration with the default timeouts and backoff.
        public init(host: String = "127.0.0.1", port: Int = 7433, token: String? = nil, clientName: String? = nil) {
            self.host = host
            self.port = port
            self.token = token
            self.clientName = clientName
        }

        /// `host:port`, for messages.
        var server: String { "\(host):\(port)" }
    }
}
