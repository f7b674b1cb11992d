import BreakerProtocol

extension BreakerClient {
    /// Where and how to connect.
    public struct Configuration: Sendable {
        /// One breakerd's address.
        public struct Server: Sendable, Hashable, CustomStringConvertible {
            /// A name or a numeric address.
            public var host: String
            /// The port (1–65535).
            public var port: Int

            /// A server at `host:port`.
            public init(host: String, port: Int) {
                self.host = host
                self.port = port
            }

            /// `HOST:PORT` or `[IPv6]:PORT`; nil for anything else.
            public init?(parsing text: some StringProtocol) {
                let text = Substring(text)
                var host = text
                var portText = Substring("")
                if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
                    host = text[text.index(after: text.startIndex)..<close]
                    portText = text[close...].dropFirst(2)
                } else if let colon = text.lastIndex(of: ":") {
                    host = text[..<colon]
                    portText = text[text.index(after: colon)...]
                }
                guard !host.isEmpty, let port = Int(portText), (1...65_535).contains(port) else { return nil }
                self.init(host: String(host), port: port)
            }

            /// `HOST:PORT`, or `[IPv6]:PORT`.
            public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
        }

        /// Every breakerd the client may use: one for a single server; every replica of a cluster
        /// (`breakerd --cluster`). The client connects to one at a time: on `not_leader` it goes to the leader the
        /// error names, and when a connection breaks or cannot be made it tries the next; callers see the fallback
        /// decide meanwhile. Never empty.
        public var servers: [Server]

        /// The first server's host (a name or a numeric address).
        public var host: String {
            get { servers[0].host }
            set { servers[0].host = newValue }
        }
        /// The first server's port.
        public var port: Int {
            get { servers[0].port }
            set { servers[0].port = newValue }
        }
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
            self.servers = [Server(host: host, port: port)]
            self.token = token
            self.clientName = clientName
        }

        /// A configuration for the replicas of a cluster (at least one server).
        public init(servers: [Server], token: String? = nil, clientName: String? = nil) {
            precondition(!servers.isEmpty, "a client needs at least one server")
            self.servers = servers
            self.token = token
            self.clientName = clientName
        }

        /// The servers, for messages.
        var server: String { servers.map(\.description).joined(separator: ",") }
    }
}
