import BreakerCore
import BreakerProtocol

/// `breakerd`'s flags as given on the command line, before they are checked and read.
public struct ServerOptions: Sendable {
    public var listen = "127.0.0.1:7433"
    public var clientTokenFile: String?
    public var adminTokenFile: String?
    public var insecure = false
    public var maxConnections = 10_000
    public var maxUnauthenticated = 1_000
    public var maxWatchBuffer = "256MiB"
    public var maxLineBytes = 65_536
    public var maxBreakers = 100_000
    public var defaultPolicy: String?
    public var eventLoops: Int?
    public var db = "breakerd.sqlite"
    public var dropUnreadable = false
    public var snapshotInterval = "5s"
    /// `--lease-ms`: the lease `lease` grants, in milliseconds (1 to 60,000).
    public var leaseMs = Int(ServerConfiguration.defaultLeaseDuration.millisecondsRoundedUp)
    /// `--http-listen`: HOST:PORT, `off`, or nil for the default (the `--listen` host with its port + 1; an
    /// ephemeral port when `--listen`'s port is 0).
    public var httpListen: String?
    /// `--metrics-max-resources`: the most resources with per-resource series in `/metrics`.
    public var metricsMaxResources = 1_000
    /// `--tls-cert`, `--tls-key`: TLS on both ports (PEM files); `--tls-client-ca`: require client certificates
    /// signed by this CA (mutual TLS).
    public var tlsCert: String?
    public var tlsKey: String?
    public var tlsClientCA: String?
    /// `--cluster etcd://HOST:PORT[,HOST:PORT…]`: cluster mode (issue #19); nil: a single server.
    public var cluster: String?
    /// `--cluster-name`: the cluster's keys in etcd live under `/highway-breaker/NAME/`.
    public var clusterName = "default"
    /// `--advertise HOST:PORT`: where clients reach this replica (default: `--listen`, when it is not a
    /// wildcard or port 0).
    public var advertise: String?
    /// `--leader-lease`: the leader's lease (default 2s, 1s to 60s).
    public var leaderLease = "2s"
    /// `--etcd-ca`, `--etcd-cert`, `--etcd-key`: TLS to etcd.
    public var etcdCA: String?
    public var etcdCert: String?
    public var etcdKey: String?

    public init() {}

    /// Checks the flags, reads the token files and parses the default policy.
    public func configuration() throws(ServerError) -> ServerConfiguration {
        var config = ServerConfiguration()
        guard let address = ListenAddress(parsing: listen) else {
            throw ServerError.configuration(
                "--listen \(listen): expected HOST:PORT, for example 127.0.0.1:7433, 0.0.0.0:7433 or [::1]:7433"
            )
        }
        config.listen = address
        config.httpListen = try Self.httpAddress(httpListen, main: address)
        config.metricsMaximumResources = metricsMaxResources
        switch (tlsCert, tlsKey) {
        case (let cert?, let key?):
            config.tls = ServerConfiguration.TLSFiles(certificateFile: cert, keyFile: key, clientCAFile: tlsClientCA)
        case (nil, nil):
            guard tlsClientCA == nil else {
                throw ServerError.configuration("--tls-client-ca needs --tls-cert and --tls-key (the server's own)")
            }
        default:
            throw ServerError.configuration("--tls-cert and --tls-key go together: give both, or neither")
        }
        if let path = clientTokenFile { config.clientTokens = try Self.tokens(path) }
        if let path = adminTokenFile { config.adminTokens = try Self.tokens(path) }
        config.clientTokenFile = clientTokenFile
        config.adminTokenFile = adminTokenFile
        config.requiresAuthentication = clientTokenFile != nil || adminTokenFile != nil
        config.insecure = insecure
        config.maximumConnections = maxConnections
        config.maximumUnauthenticated = maxUnauthenticated
        guard let watchBuffer = ByteCountText.parse(maxWatchBuffer) else {
            throw ServerError.configuration(
                "--max-watch-buffer \(maxWatchBuffer): expected a size such as 256MiB, 64MiB or 1GiB"
            )
        }
        config.maximumWatchBuffer = watchBuffer
        config.maximumLineBytes = maxLineBytes
        config.maximumBreakers = maxBreakers
        if let eventLoops { config.eventLoopCount = eventLoops }
        config.databasePath = db
        config.dropUnreadable = dropUnreadable
        guard let interval = DurationText.parse(snapshotInterval) else {
            throw ServerError.configuration(
                "--snapshot-interval \(snapshotInterval): expected a duration such as 5s, 500ms, 2m or 1h"
            )
        }
        config.snapshotInterval = interval
        config.leaseDuration = .milliseconds(leaseMs)
        if let cluster {
            guard let endpoints = EtcdEndpoints.parse(cluster) else {
                throw ServerError.configuration(
                    "--cluster \(cluster): expected etcd://HOST:PORT[,HOST:PORT…], the etcd members' client addresses"
                )
            }
            let wildcard = ["0.0.0.0", "::", ""].contains(address.host) || address.port == 0
            guard let advertised = advertise ?? (wildcard ? nil : "\(address)") else {
                throw ServerError.configuration(
                    "--advertise HOST:PORT is needed with --cluster when --listen is \(address): the address clients "
                        + "of the other replicas are sent to"
                )
            }
            var settings = ServerConfiguration.Cluster(etcd: endpoints, name: clusterName, advertise: advertised)
            guard let lease = DurationText.parse(leaderLease) else {
                throw ServerError.configuration(
                    "--leader-lease \(leaderLease): expected a duration such as 2s or 1500ms"
                )
            }
            settings.leaderLease = lease
            switch (etcdCA, etcdCert, etcdKey) {
            case (nil, nil, nil): break
            case (let ca?, nil, nil): settings.etcdTLS = .init(caFile: ca)
            case (let ca?, let cert?, let key?):
                settings.etcdTLS = .init(caFile: ca, certificateFile: cert, keyFile: key)
            default:
                throw ServerError.configuration(
                    "--etcd-ca is needed for TLS to etcd, and --etcd-cert and --etcd-key go together"
                )
            }
            config.cluster = settings
        } else if advertise != nil || clusterName != "default" || leaderLease != "2s" || etcdCA != nil
            || etcdCert != nil || etcdKey != nil
        {
            throw ServerError.configuration(
                "--advertise, --cluster-name, --leader-lease and --etcd-ca/--etcd-cert/--etcd-key go with --cluster"
            )
        }
        if let text = defaultPolicy {
            do {
                config.defaultPolicy = try WirePolicy.decode(text: text)
            } catch {
                throw ServerError.configuration("--default-policy: \(error.message)")
            }
        }
        try config.validate()
        return config
    }

    /// The HTTP port's address: the flag's, none for `off`, or the main address's host with its port + 1.
    static func httpAddress(_ flag: String?, main: ListenAddress) throws(ServerError) -> ListenAddress? {
        guard let flag else {
            if main.port == 0 { return ListenAddress(host: main.host, port: 0) }
            guard main.port < 65_535 else {
                throw ServerError.configuration(
                    "--listen uses port 65535, so the HTTP port cannot be the next one; give --http-listen HOST:PORT "
                        + "or --http-listen off"
                )
            }
            return ListenAddress(host: main.host, port: main.port + 1)
        }
        if flag == "off" { return nil }
        guard let address = ListenAddress(parsing: flag) else {
            throw ServerError.configuration(
                "--http-listen \(flag): expected HOST:PORT (for example 127.0.0.1:7434) or off"
            )
        }
        return address
    }

    static func tokens(_ path: String) throws(ServerError) -> [String] {
        do {
            return try TokenFile.load(path)
        } catch {
            throw ServerError.tokenFile(path, error.problem)
        }
    }
}
