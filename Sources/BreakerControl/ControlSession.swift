public import HighwayBreaker

#if canImport(Glibc)
import Glibc
#endif

/// Opening the connection for one `breakerctl` command.
public enum ControlSession {
    /// How long to wait for a server before giving up with exit code 3 (for each server given).
    public static let connectWithin = Duration.milliseconds(900)
    /// How many times a command is made when cluster replicas answer `not_leader` (the client follows the
    /// leader each error names), and the pause between two tries: about 5 s in all, an election's length.
    public static let leaderAttempts = 25
    public static let leaderRetryDelay = Duration.milliseconds(200)

    /// The TLS options (`--tls-ca`, `--tls-cert`, `--tls-key`, `--tls-server-name`): TLS is on when any of the
    /// first three is given.
    public struct TLSOptions: Sendable {
        public var ca: String?
        public var certificate: String?
        public var key: String?
        public var serverName: String?

        public init(ca: String? = nil, certificate: String? = nil, key: String? = nil, serverName: String? = nil) {
            self.ca = ca
            self.certificate = certificate
            self.key = key
            self.serverName = serverName
        }

        /// The client's TLS configuration, nil when TLS is off; a file that cannot be used is a usage error.
        public func configuration() throws(ControlFailure) -> BreakerClient.TLSConfiguration? {
            guard ca != nil || certificate != nil || key != nil else { return nil }
            if (certificate == nil) != (key == nil) {
                throw ControlFailure(
                    exitCode: ControlFailure.usage,
                    message: "--tls-cert and --tls-key go together (a client certificate needs its key)"
                )
            }
            do {
                return try BreakerClient.TLSConfiguration(
                    caFile: ca,
                    certificateFile: certificate,
                    keyFile: key,
                    serverName: serverName
                )
            } catch {
                throw ControlFailure(exitCode: ControlFailure.usage, message: "TLS: \(error.message)")
            }
        }
    }

    /// Connects to `server` (HOST:PORT, or a cluster's replicas separated by commas) with the token in
    /// `tokenFile`, or fails within a second with exit code 3
    /// (unreachable, or the TLS handshake failed: the message says why), 2 (bad options) or 1 (the token was
    /// refused).
    public static func connect(
        server: String,
        tokenFile: String?,
        tls: TLSOptions = TLSOptions()
    ) async throws(ControlFailure) -> BreakerClient {
        let servers = try server.split(separator: ",").map { (part) throws(ControlFailure) in
            let (host, port) = try ControlOptions.server(String(part))
            return BreakerClient.Configuration.Server(host: host, port: port)
        }
        guard !servers.isEmpty else {
            throw ControlFailure(exitCode: ControlFailure.usage, message: "--server is empty")
        }
        var token: String?
        if let tokenFile { token = try readToken(tokenFile) }
        var config = BreakerClient.Configuration(servers: servers, token: token, clientName: operatorName())
        config.tls = try tls.configuration()
        config.connectTimeout = .milliseconds(400)
        config.adminTimeout = .seconds(10)
        config.requestTimeout = .seconds(5)
        let client = BreakerClient(configuration: config)
        do {
            try await client.connect(timeout: connectWithin * servers.count)
        } catch {
            client.shutdown()
            guard error.code == .timeout else { throw ControlFailure(error, server: server) }
            let problem = client.lastProblem
            if config.tls != nil, problem.contains("TLS") {
                throw ControlFailure(
                    exitCode: ControlFailure.unreachable,
                    message: "cannot reach breakerd at \(server): \(problem) (check --tls-ca, --tls-cert and --tls-key)"
                )
            }
            throw ControlFailure(
                exitCode: ControlFailure.unreachable,
                message: "cannot reach breakerd at \(server): nothing answered within 1 s "
                    + "(is it running? check --server or BREAKER_SERVER)"
            )
        }
        return client
    }

    /// Runs a client call, turning its error into the command's exit code. A cluster replica that is not the
    /// leader sends the client to the leader: the call is made again there (a few times, while an election
    /// settles).
    public static func call<T>(
        server: String,
        _ body: () async throws(BreakerClientError) -> T
    ) async throws(ControlFailure) -> T {
        var attempts = 0
        while true {
            do {
                return try await body()
            } catch {
                attempts += 1
                guard error.code == .notLeader, attempts < leaderAttempts else {
                    throw ControlFailure(error, server: server)
                }
                try? await Task.sleep(for: leaderRetryDelay)
            }
        }
    }

    /// The first token in the file (one per line; `#` comments and blank lines skipped).
    public static func readToken(_ path: String) throws(ControlFailure) -> String {
        do {
            return try BreakerClient.Configuration.readToken(fromFile: path)
        } catch {
            throw ControlFailure(exitCode: ControlFailure.usage, message: "--token-file \(error.message)")
        }
    }

    /// `breakerctl@<user>`: the name the server's audit log records for this operator.
    static func operatorName() -> String {
        if let user = getenv("USER") ?? getenv("LOGNAME") { return "breakerctl@\(String(cString: user))" }
        return "breakerctl"
    }
}
