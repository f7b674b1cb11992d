import ArgumentParser
import BreakerServer
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `breakerd`: the shared circuit-breaker server. All behaviour lives in BreakerServer; this is flags,
/// logging and signals.
@main
struct Breakerd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "breakerd",
        abstract: "The shared circuit-breaker server (line-delimited JSON over TCP, protocol v1).",
        discussion: """
            Every process that asks about a resource shares one circuit for it. Try it:
              breakerd --listen 127.0.0.1:7433
              printf '{"op":"acquire","resource":"db"}\\n' | nc -q1 127.0.0.1 7433
            On start it prints 'breakerd listening on HOST:PORT', then 'breakerd http on HOST:PORT' for the
            HTTP port (GET / is the dashboard; /metrics, /healthz, /readyz, /api/). SIGTERM or SIGINT stop it gracefully;
            SIGUSR1 writes a snapshot of every breaker now; SIGHUP re-reads the token files and the TLS files.
            """,
        version: BreakerServer.version
    )

    @Option(help: "HOST:PORT to listen on; port 0 picks a free port. Non-loopback needs token files or --insecure.")
    var listen = "127.0.0.1:7433"

    @Option(help: "File with client tokens, one per line (may acquire, report, status, list, watch, history, stats).")
    var clientTokenFile: String?

    @Option(help: "File with admin tokens, one per line (may also configure, force, release, reset, delete).")
    var adminTokenFile: String?

    @Flag(help: "Allow a non-loopback --listen address without token files (only on a trusted network).")
    var insecure = false

    @Option(help: "Most connections at once (lowered to fit the open-file limit, with a log line).")
    var maxConnections = 10_000

    @Option(help: "Most connections without a successful hello at once, when token files are set.")
    var maxUnauthenticated = 1_000

    @Option(help: "Output waiting for all watchers together past which the slowest is disconnected (e.g. 256MiB).")
    var maxWatchBuffer = "256MiB"

    @Option(help: "Longest request line in bytes.")
    var maxLineBytes = 65_536

    @Option(help: "Most breakers held.")
    var maxBreakers = 100_000

    @Option(
        help: ArgumentHelp(
            "Policy JSON for breakers created without one.",
            discussion: #"Default: {"failure_threshold":"10/20","success_threshold":"3/3","cooldown_ms":30000}"#
        )
    )
    var defaultPolicy: String?

    @Option(help: "Event-loop threads (default: one per core but one, 1 to 4).")
    var eventLoops: Int?

    @Option(help: "SQLite file for breakers and their audit log; ':memory:' keeps nothing.")
    var db = "breakerd.sqlite"

    @Flag(
        help: ArgumentHelp(
            "Remove stored breakers that cannot be read (logging each name), then start.",
            discussion: "Without it, a row that cannot be read refuses the start and names it."
        )
    )
    var dropUnreadable = false

    @Option(help: "How often every breaker's window is written to the database (e.g. 5s, 500ms).")
    var snapshotInterval = "5s"

    @Option(
        help: ArgumentHelp(
            "How long a lease lets a client decide alone, in milliseconds (1 to 60000).",
            discussion: "A connection also gets a resource's events for this long after its last lease entry for it."
        )
    )
    var leaseMs = 1_000

    @Option(
        help: ArgumentHelp(
            "HOST:PORT of the HTTP port (metrics, health, dashboard), or 'off'.",
            discussion: """
                Default: the --listen host with its port + 1 (127.0.0.1:7434), an ephemeral port when --listen's \
                port is 0. Non-loopback needs token files or --insecure, as for --listen.
                """
        )
    )
    var httpListen: String?

    @Option(help: "Most resources with per-resource series in /metrics (those not closed first).")
    var metricsMaxResources = 1_000

    @Option(help: "PEM certificate (chain) for TLS on both ports; with --tls-key. SIGHUP re-reads it.")
    var tlsCert: String?

    @Option(help: "PEM private key of --tls-cert.")
    var tlsKey: String?

    @Option(
        help: ArgumentHelp(
            "PEM CA file: require client certificates signed by it (mutual TLS).",
            discussion: "A verified certificate's common name names the connection unless hello gives a client name."
        )
    )
    var tlsClientCa: String?

    @Option(
        help: ArgumentHelp(
            "Cluster mode: etcd://HOST:PORT[,HOST:PORT…], the etcd members' client addresses.",
            discussion: """
                Replicas elect a leader in etcd and keep their durable state there (no SQLite file); only the \
                leader serves, the others answer not_leader with the leader's --advertise address.
                """
        )
    )
    var cluster: String?

    @Option(help: "The cluster's name (its keys live under /highway-breaker/NAME/ in etcd).")
    var clusterName = "default"

    @Option(help: "HOST:PORT clients reach this replica at (default: --listen, unless it is a wildcard).")
    var advertise: String?

    @Option(help: "The leader's lease in etcd (1s to 60s): a leader that cannot renew it stops serving first.")
    var leaderLease = "2s"

    @Option(help: "TLS to etcd: the PEM CA file that signed the members' certificates.")
    var etcdCa: String?

    @Option(help: "TLS to etcd: this replica's PEM certificate, for an etcd with --client-cert-auth (with --etcd-key).")
    var etcdCert: String?

    @Option(help: "TLS to etcd: the PEM key of --etcd-cert.")
    var etcdKey: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(help: "Log format on stderr: text, or json (one object per line: ts, level, logger, msg, fields).")
    var logFormat: LogFormat = .text

    func run() throws {
        var options = ServerOptions()
        options.listen = listen
        options.clientTokenFile = clientTokenFile
        options.adminTokenFile = adminTokenFile
        options.insecure = insecure
        options.maxConnections = maxConnections
        options.maxUnauthenticated = maxUnauthenticated
        options.maxWatchBuffer = maxWatchBuffer
        options.maxLineBytes = maxLineBytes
        options.maxBreakers = maxBreakers
        options.defaultPolicy = defaultPolicy
        options.eventLoops = eventLoops
        options.db = db
        options.dropUnreadable = dropUnreadable
        options.snapshotInterval = snapshotInterval
        options.leaseMs = leaseMs
        options.httpListen = httpListen
        options.metricsMaxResources = metricsMaxResources
        options.tlsCert = tlsCert
        options.tlsKey = tlsKey
        options.tlsClientCA = tlsClientCa
        options.cluster = cluster
        options.clusterName = clusterName
        options.advertise = advertise
        options.leaderLease = leaderLease
        options.etcdCA = etcdCa
        options.etcdCert = etcdCert
        options.etcdKey = etcdKey

        let (level, format) = (logLevel, logFormat)
        LoggingSystem.bootstrap { label in format.makeHandler(label: label, level: level) }
        let logger = Logger(label: "breakerd")

        // Block SIGTERM and SIGINT before any thread starts (threads inherit the mask); the main thread
        // takes them with sigwait below, so a signal that comes early is never lost or fatal.
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGTERM)
        sigaddset(&stopSignals, SIGINT)
        sigaddset(&stopSignals, SIGUSR1)
        sigaddset(&stopSignals, SIGHUP)
        pthread_sigmask(SIG_BLOCK, &stopSignals, nil)
        signal(SIGUSR2, SIG_IGN)

        let server: BreakerServer
        let bound: ListenAddress
        do {
            server = try BreakerServer(configuration: try options.configuration(), logger: logger)
            bound = try server.start()
        } catch {
            throw StartupFailure(message: error.message)
        }
        // One line (two with the HTTP port), flushed at once: scripts and tests wait for it to learn the ports.
        var text = "breakerd listening on \(bound)\n"
        if let http = server.httpAddress { text += "breakerd http on \(http)\n" }
        let line = Array(text.utf8)
        _ = line.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }

        var received: Int32 = 0
        while true {
            sigwait(&stopSignals, &received)
            if received == SIGUSR1 {
                logger.info("SIGUSR1: snapshot of every breaker requested")
                server.requestSnapshot()
            } else if received == SIGHUP {
                server.reloadTokens()
                server.reloadTLS()
            } else {
                break
            }
        }
        logger.info("received signal \(received)")
        server.shutdown()
        if let unsaved = server.waitUntilStopped() {
            logger.error("stopped, but not everything was saved: \(unsaved)")
            throw StartupFailure(message: "not everything was saved at shutdown: \(unsaved)")
        }
        logger.info("stopped")
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
extension LogFormat: ExpressibleByArgument {}
