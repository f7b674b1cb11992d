public import BreakerClock
public import BreakerCore

#if canImport(Glibc)
import Glibc
#endif

/// Everything `breakerd` can be told. Defaults are the flags' defaults.
public struct ServerConfiguration: Sendable {
    /// Where to listen (`--listen`, default 127.0.0.1:7433; port 0 picks a free port).
    public var listen = ListenAddress(host: "127.0.0.1", port: 7433)
    /// Where the HTTP port listens (metrics, health, the dashboard and its API), or nil for no HTTP port.
    /// `breakerd` sets it from `--http-listen` (default: the `--listen` host, its port + 1); a library user
    /// embedding the server opts in.
    public var httpListen: ListenAddress?
    /// The most resources with per-resource series in `/metrics` (`--metrics-max-resources`, default 1,000):
    /// the ones not closed first.
    public var metricsMaximumResources = 1_000
    /// The most HTTP connections at once; past it new ones get `503`.
    public var httpMaximumConnections = 512
    /// How long an HTTP connection may take to send a whole request once it began, and how long an idle
    /// keep-alive connection is kept.
    public var httpRequestTimeout = Duration.seconds(10)
    public var httpIdleTimeout = Duration.seconds(60)
    /// TLS on the breaker port and the HTTP port (`--tls-cert`, `--tls-key`, `--tls-client-ca`), or nil for plain
    /// text.
    public var tls: TLSFiles?
    /// Tokens that give the client role (`--client-token-file`, one per line).
    public var clientTokens: [String] = []
    /// Tokens that give the admin role (`--admin-token-file`, one per line).
    public var adminTokens: [String] = []
    /// The client token file, re-read by `BreakerServer.reloadTokens()` (SIGHUP).
    public var clientTokenFile: String?
    /// The admin token file, re-read by `BreakerServer.reloadTokens()` (SIGHUP).
    public var adminTokenFile: String?
    /// True when token files were given: connections must `hello` with a token first.
    public var requiresAuthentication = false
    /// Allow a non-loopback address without token files (`--insecure`).
    public var insecure = false
    /// The most connections at once (`--max-connections`).
    public var maximumConnections = 10_000
    /// The longest request line, in bytes (`--max-line-bytes`).
    public var maximumLineBytes = 65_536
    /// The most breakers (`--max-breakers`).
    public var maximumBreakers = 100_000
    /// The policy of breakers created by requests without one (`--default-policy`).
    public var defaultPolicy: BreakerPolicy = BreakerPolicy.default
    /// Event-loop threads (default: one per core but one, at least 1, at most 4).
    public var eventLoopCount = ServerConfiguration.defaultEventLoopCount
    /// What an unauthenticated connection may send before it is closed, in bytes.
    public var unauthenticatedByteLimit = 16 * 1_024
    /// How long after connecting a connection has to succeed with `hello` when token files are set (bytes sent
    /// meanwhile do not extend it).
    public var helloTimeout = Duration.seconds(10)
    /// The most connections without a successful `hello` at once, when token files are set
    /// (`--max-unauthenticated`); past it new connections get `too_many_connections`.
    public var maximumUnauthenticated = 1_000
    /// Pending output (events and replies not yet read by the peer) past which a watcher is disconnected, in bytes.
    public var slowConsumerLimit = 8 * 1_024 * 1_024
    /// Output waiting for all watchers together past which the watcher with the most waiting is disconnected,
    /// in bytes (`--max-watch-buffer`, default 256 MiB).
    public var maximumWatchBuffer = 256 * 1_024 * 1_024
    /// How long shutdown waits for replies to drain before closing connections.
    public var shutdownGrace = Duration.milliseconds(1_500)
    /// How long a `lease` lets a client allow calls on its own, and how long after its last entry for a resource
    /// a connection receives that resource's events (`--lease-ms`, default 1,000 ms, 1 ms to 60 s).
    public var leaseDuration = ServerConfiguration.defaultLeaseDuration
    /// The monotonic clock every expiry runs on (tests pass a `ManualClock`).
    public var clock: any MonotonicClock = SystemClock()
    /// The wall clock for display stamps.
    public var wallClock: WallClock = systemWallClock
    /// The SQLite file (`--db`, default `breakerd.sqlite` in the working directory); `:memory:` keeps nothing.
    public var databasePath = "breakerd.sqlite"
    /// Remove stored breakers that cannot be read (and their audit logs) before restoring, logging each
    /// (`--drop-unreadable`). Without it, such a row refuses the start.
    public var dropUnreadable = false
    /// How often every breaker's window is written to the database (`--snapshot-interval`, default 5 s).
    public var snapshotInterval = Duration.seconds(5)
    /// The longest an event loop sleeps while a timer (a force TTL, a connection deadline) is pending. With the
    /// system clock a loop wakes at the deadline itself; the bound lets a test's manual clock be noticed.
    public var timerResolution = Duration.milliseconds(50)
    /// How long input is read and dropped after `line_too_long`, and how long a closing connection may take to
    /// receive its last output, before it is closed.
    public var lineTooLongLinger = Duration.seconds(2)
    /// How long a connection's output may wait without a byte going out before the connection is closed (a
    /// peer that stops reading cannot pin its buffers for ever).
    public var outputStallTimeout = Duration.seconds(30)
    /// Pending output past which a connection's requests are not read until its replies drain, in bytes.
    public var backPressureBytes = 4 * 1_024 * 1_024

    /// Cluster mode (`--cluster`, issue #19): replicas elect a leader in etcd and keep their durable state there;
    /// nil: a single server with its SQLite file.
    public var cluster: Cluster?

    /// Cluster mode's settings.
    public struct Cluster: Sendable, Hashable {
        /// etcd's members' client addresses (`--cluster etcd://HOST:PORT,…`).
        public var etcd: [ListenAddress]
        /// The cluster's name: its keys live under `/highway-breaker/NAME/` (`--cluster-name`).
        public var name: String
        /// The address clients reach this replica at, told to clients of the other replicas
        /// (`--advertise HOST:PORT`).
        public var advertise: String
        /// The leader's lease (`--leader-lease`, default 2 s): a leader that cannot renew it stops serving
        /// before it ends; a follower takes over at most about this long after a leader dies.
        public var leaderLease = Duration.seconds(2)
        /// TLS to etcd (`--etcd-ca`, `--etcd-cert`, `--etcd-key`): the CA of the members' certificates, and this
        /// replica's certificate and key when etcd requires one; nil for plain HTTP.
        public var etcdTLS: EtcdTLSFiles?

        /// The files of TLS to etcd (PEM).
        public struct EtcdTLSFiles: Sendable, Hashable {
            public var caFile: String
            public var certificateFile: String?
            public var keyFile: String?

            public init(caFile: String, certificateFile: String? = nil, keyFile: String? = nil) {
                self.caFile = caFile
                self.certificateFile = certificateFile
                self.keyFile = keyFile
            }
        }

        public init(etcd: [ListenAddress], name: String, advertise: String) {
            self.etcd = etcd
            self.name = name
            self.advertise = advertise
        }

        /// `--leader-lease`'s bounds: 1 s to 60 s.
        public static let leaseRange = Duration.seconds(1)...Duration.seconds(60)

        func validate() throws(ServerError) {
            guard !etcd.isEmpty else {
                throw ServerError.configuration(
                    "--cluster needs at least one etcd member: etcd://HOST:PORT[,HOST:PORT…]"
                )
            }
            guard !name.isEmpty, name.utf8.count <= 64,
                name.utf8.allSatisfy({
                    $0 == 0x2D || $0 == 0x5F || $0 == 0x2E || (0x30...0x39).contains($0)
                        || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0)
                })
            else {
                throw ServerError.configuration(
                    "--cluster-name must be 1 to 64 of A-Z a-z 0-9 . _ - (it names the cluster's keys in etcd)"
                )
            }
            guard let address = ListenAddress(parsing: advertise), address.port > 0 else {
                throw ServerError.configuration(
                    "--advertise must be the HOST:PORT clients reach this replica at (for example 10.0.0.5:7433)"
                )
            }
            guard Self.leaseRange.contains(leaderLease) else {
                throw ServerError.configuration("--leader-lease must be from 1s to 60s")
            }
        }
    }

    /// How long a TLS connection has to complete its handshake before it is closed.
    public static let tlsHandshakeTimeout = Duration.seconds(10)

    /// The files of a TLS server: its certificate chain and key (PEM), and for mutual TLS the CA that signs
    /// client certificates.
    public struct TLSFiles: Sendable, Hashable {
        public var certificateFile: String
        public var keyFile: String
        public var clientCAFile: String?

        public init(certificateFile: String, keyFile: String, clientCAFile: String? = nil) {
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.clientCAFile = clientCAFile
        }
    }

    /// `--lease-ms`'s default: 1 s.
    public static let defaultLeaseDuration = Duration.milliseconds(1_000)
    /// The longest `--lease-ms`: 60 s.
    public static let maximumLeaseDuration = Duration.milliseconds(60_000)

    /// One event loop per core but one (left for the durable writer and everything else on the machine), at
    /// least 1, at most 4. Measured on a 2-core machine with the load generator beside it: 1 loop answered 50
    /// unpipelined connections at 110k round trips/s (p99 0.5 ms), 2 loops at 84k/s (p99 1.7 ms), the loops
    /// and the other busy threads taking turns on the same cores (benchmarks/RESULTS.md).
    public static var defaultEventLoopCount: Int {
        max(1, min(4, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) - 1))
    }

    /// The configuration of the flags' defaults.
    public init() {}

    /// Refuses a configuration that would expose an unauthenticated server beyond this machine.
    public func validate() throws(ServerError) {
        if !listen.isLoopback && !requiresAuthentication && !insecure {
            throw ServerError.insecureListen(listen)
        }
        if let httpListen, !httpListen.isLoopback && !requiresAuthentication && !insecure {
            throw ServerError.insecureListen(httpListen, flag: "--http-listen")
        }
        guard metricsMaximumResources >= 0 else {
            throw ServerError.configuration("--metrics-max-resources must be 0 or more")
        }
        if requiresAuthentication && clientTokens.isEmpty && adminTokens.isEmpty {
            throw ServerError.configuration("the token files hold no tokens; put one token per line")
        }
        guard maximumConnections >= 1 else { throw ServerError.configuration("--max-connections must be at least 1") }
        guard maximumLineBytes >= 256 else { throw ServerError.configuration("--max-line-bytes must be at least 256") }
        guard maximumWatchBuffer >= 65_536 else {
            throw ServerError.configuration("--max-watch-buffer must be at least 64KiB")
        }
        guard maximumUnauthenticated >= 1 else {
            throw ServerError.configuration("--max-unauthenticated must be at least 1")
        }
        guard maximumBreakers >= 1 else { throw ServerError.configuration("--max-breakers must be at least 1") }
        guard snapshotInterval >= .milliseconds(10) else {
            throw ServerError.configuration("--snapshot-interval must be at least 10ms")
        }
        guard leaseDuration >= .milliseconds(1), leaseDuration <= Self.maximumLeaseDuration else {
            throw ServerError.configuration(
                "--lease-ms must be from 1 to \(Self.maximumLeaseDuration.millisecondsRoundedUp) (milliseconds)"
            )
        }
        guard eventLoopCount >= 1 else { throw ServerError.configuration("the event-loop count must be at least 1") }
        try cluster?.validate()
    }

    /// The limits every connection lives under.
    var connectionLimits: ConnectionStateMachine.Limits {
        ConnectionStateMachine.Limits(
            unauthenticatedBytes: unauthenticatedByteLimit,
            helloTimeout: helloTimeout,
            backPressureBytes: backPressureBytes,
            slowConsumerBytes: slowConsumerLimit,
            linger: lineTooLongLinger,
            outputStall: outputStallTimeout
        )
    }
}
