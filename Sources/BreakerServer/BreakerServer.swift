import BreakerClock
import BreakerCore
import BreakerEtcd
import BreakerProtocol
import BreakerStore
import BreakerTLS
public import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The shared breaker server: listens, answers protocol v1 on its event loops, pushes transitions to watchers.
///
/// ```swift
/// let server = try BreakerServer(configuration: config, logger: logger)
/// let address = try server.start()      // the real port when config.listen.port was 0
/// …
/// server.shutdown()                      // stop accepting, answer what is in flight, close
/// server.waitUntilStopped()
/// ```
public final class BreakerServer: Sendable {
    /// The server's version, reported by `hello`.
    public static let version = PackageVersion.current

    private let context: ServerContext
    private let loops: [EventLoop]
    private let writer: DurableWriter
    /// Cluster mode's election and etcd store (nil: a single server).
    private let cluster: ClusterMember?
    /// The HTTP port's loop, when `httpListen` is set.
    private let httpLoop: HTTPLoop?
    private let state = Mutex<(started: Bool, stopped: Bool, bound: ListenAddress?, http: ListenAddress?)>(
        (false, false, nil, nil)
    )

    /// The breakers (for tests, persistence and embedding).
    public var registry: BreakerRegistry { context.registry }

    /// Opens the database, restores every breaker from it, and sets the server up; nothing listens until
    /// `start()`.
    public init(configuration requested: ServerConfiguration, logger: Logger) throws(ServerError) {
        try requested.validate()
        var configuration = requested
        for path in [configuration.clientTokenFile, configuration.adminTokenFile].compactMap({ $0 })
        where TokenFile.isReadableByOthers(path) {
            logger.warning(
                "a token file may be read by its group or by others; tokens are secrets (chmod 600)",
                metadata: ["file": "\(path)"]
            )
        }
        let descriptors = DescriptorLimit.raiseToHardLimit()
        var fit = DescriptorLimit.connectionsThatFit(descriptors)
        if configuration.httpListen != nil {
            // The HTTP port's connections come out of the same descriptors: keep them apart, so that neither
            // port can starve the other.
            configuration.httpMaximumConnections = max(1, min(configuration.httpMaximumConnections, fit / 4))
            fit = max(1, fit - configuration.httpMaximumConnections)
        }
        if configuration.maximumConnections > fit {
            logger.warning(
                """
                the open-file limit allows fewer connections than --max-connections; lowered to fit. Raise \
                LimitNOFILE / ulimit -n to allow more
                """,
                metadata: [
                    "open_files": "\(descriptors)", "max_connections": "\(fit)",
                    "requested": "\(configuration.maximumConnections)",
                ]
            )
            configuration.maximumConnections = fit
        }
        // A single server keeps its breakers in its SQLite file; a cluster replica keeps none of its own: the
        // leader's state lives in etcd.
        let store: BreakerStore?
        do {
            store = configuration.cluster == nil ? try BreakerStore(path: configuration.databasePath) : nil
        } catch {
            throw ServerError.database(error.message)
        }
        // Built in dependency order; nothing refers back, so nothing needs to be set later.
        let mailboxes = try (0..<configuration.eventLoopCount).map { (_) throws(ServerError) in try Mailbox() }
        let httpMailbox = try Mailbox()
        let route = { @Sendable (loop: Int) -> Mailbox in loop < mailboxes.count ? mailboxes[loop] : httpMailbox }
        // The HTTP loop counts its requests in the last slot.
        let stats = ServerStats(loops: mailboxes.count + 1, startedAtMs: configuration.wallClock())
        let hub = WatcherHub(clock: configuration.clock, leaseDuration: configuration.leaseDuration) { key, line in
            route(key.loop).post(.event(key, line))
        }
        let registry = BreakerRegistry(
            maximumBreakers: configuration.maximumBreakers,
            defaultPolicy: configuration.defaultPolicy,
            clock: configuration.clock,
            wallClock: configuration.wallClock
        )
        let etcdTLS: TLSContext?
        do {
            etcdTLS = try configuration.cluster?.etcdTLS.map { (files) throws(TLSError) in
                try TLSContext.client(
                    caFile: files.caFile,
                    certificateFile: files.certificateFile,
                    keyFile: files.keyFile
                )
            }
        } catch {
            throw ServerError.configuration("--etcd-ca/--etcd-cert/--etcd-key: \(error.message)")
        }
        let cluster = configuration.cluster.map { c in
            ClusterMember(
                etcd: EtcdClient(
                    endpoints: c.etcd.map { ($0.host, $0.port) },
                    timeout: max(c.leaderLease / 2, .milliseconds(500)),
                    tls: etcdTLS
                ),
                clusterName: c.name,
                advertise: c.advertise,
                lease: c.leaderLease,
                wallClock: configuration.wallClock,
                logger: logger
            ) { records in
                let restored = registry.replaceAll(with: records)
                for (i, (resource, until)) in restored.expiring.enumerated() {
                    mailboxes[i % mailboxes.count].post(.scheduleExpiry(resource: resource, at: until))
                }
            }
        }
        let durable: any DurableStore = cluster?.store ?? SQLiteDurableStore(store: store!)
        let writer = DurableWriter(
            store: durable,
            snapshotInterval: configuration.snapshotInterval,
            wallClock: configuration.wallClock,
            logger: logger,
            rows: { registry.persistedRows(all: $0) },
            release: { key, failure in route(key.loop).post(.committed(key, failure: failure)) }
        )
        let publisher = ChangePublisher(shards: registry.shardCount) { change, waiter in
            for record in change.transitions {
                hub.broadcast(.transition(resource: change.resource, record))
                logger.info("transition", metadata: record.logMetadata(resource: change.resource))
            }
            if change.deleted { hub.broadcast(.deleted(resource: change.resource)) }
            writer.enqueue(change.durable, waiter: waiter)
        }

        // Restore before anything listens.
        let started = SystemClock.read()
        var restored = BreakerRegistry.Restored()
        var historyReader: HistoryReader?
        if let store {
            do {
                if configuration.dropUnreadable {
                    let dropped = try store.dropUnreadableRows()
                    for resource in dropped {
                        logger.warning(
                            "--drop-unreadable: removed a stored breaker that could not be read, and its audit log",
                            metadata: ["resource": LogText.value(resource)]
                        )
                    }
                    logger.notice("--drop-unreadable: \(dropped.count) unreadable breaker(s) removed")
                }
                let (rows, _) = try store.loadBreakers()
                let history = try store.loadTransitions(newestPerResource: BreakerEntry.recentTransitionsInMemory)
                historyReader = try store.makeHistoryReader()
                restored = registry.restore(rows, history: history)
                if let resource = restored.clockStepResource {
                    logger.warning(
                        """
                        stored deadlines lay beyond their cooldown or force TTL (the wall clock was ahead when they \
                        were written); each was clamped to its cooldown or TTL
                        """,
                        metadata: ["step_ms": "\(restored.clockStepMs)", "example": "\(resource)"]
                    )
                }
                if rows.count > configuration.maximumBreakers {
                    logger.warning(
                        "the database holds more breakers than --max-breakers; all were restored, none can be added",
                        metadata: ["stored": "\(rows.count)", "max": "\(configuration.maximumBreakers)"]
                    )
                }
                logger.info(
                    "restored",
                    metadata: [
                        "database": "\(configuration.databasePath)", "breakers": "\(rows.count)",
                        "ms": "\((SystemClock.read() - started).millisecondsRoundedUp)",
                    ]
                )
            } catch {
                throw ServerError.database(error.message)
            }
        }

        let handler = RequestHandler(
            registry: registry,
            publisher: publisher,
            hub: hub,
            historyReader: historyReader,
            stats: stats,
            authenticator: Authenticator(configuration: configuration),
            wallClock: configuration.wallClock,
            serverVersion: Self.version,
            logger: logger,
            persistenceStats: { writer.stats },
            gate: cluster?.gate
        )
        context = ServerContext(
            configuration: configuration,
            stats: stats,
            hub: hub,
            registry: registry,
            handler: handler,
            logger: logger,
            mailboxes: mailboxes,
            httpMailbox: httpMailbox,
            tls: try configuration.tls.map { (files) throws(ServerError) in try TLSContextHolder(files) },
            gate: cluster?.gate
        )
        let context = context
        loops = try mailboxes.indices.map { (i) throws(ServerError) in try EventLoop(index: i, context: context) }
        httpLoop = configuration.httpListen == nil ? nil : try HTTPLoop(context: context)
        for (i, (resource, until)) in restored.expiring.enumerated() {
            loops[i % loops.count].scheduleRestoredExpiry(resource, at: until)
        }
        self.writer = writer
        self.cluster = cluster
    }

    /// Binds the listening socket and starts the event loops. Returns the address bound (with the real port).
    @discardableResult
    public func start() throws(ServerError) -> ListenAddress {
        signal(SIGPIPE, SIG_IGN)
        // Both ports are bound before any thread starts, so that a port in use fails the start cleanly.
        let (fd, bound) = try Listener.open(context.configuration.listen)
        let http: ListenAddress?
        do {
            http = try httpLoop.map { (loop) throws(ServerError) in try loop.bind(context.configuration.httpListen!) }
            try loops[0].adoptListener(fd)
        } catch {
            close(fd)
            throw error
        }
        try writer.start()
        for loop in loops { try loop.start() }
        try cluster?.start()
        try httpLoop?.start()
        state.withLock {
            $0.started = true
            $0.bound = bound
            $0.http = http
        }
        if context.tls == nil
            && (!context.configuration.listen.isLoopback
                || context.configuration.httpListen.map { !$0.isLoopback } == true)
        {
            context.logger.warning(
                """
                listening beyond loopback without TLS: tokens and every request cross the network in clear; give \
                --tls-cert and --tls-key
                """
            )
        }
        context.logger.info(
            "listening",
            metadata: [
                "address": "\(bound)", "http": "\(http.map { "\($0)" } ?? "off")",
                "auth": "\(context.configuration.requiresAuthentication)", "event_loops": "\(loops.count)",
                "tls":
                    "\(context.tls == nil ? "off" : context.tls!.current.requiresClientCertificate ? "mutual" : "on")",
            ]
        )
        return bound
    }

    /// The address bound by `start()`.
    public var boundAddress: ListenAddress? { state.withLock { $0.bound } }

    /// The HTTP port's address bound by `start()` (nil when there is no HTTP port).
    public var httpAddress: ListenAddress? { state.withLock { $0.http } }

    /// Stops accepting, answers the requests already received, sends what is pending (for at most the
    /// configured grace), and closes every connection. Returns at once; see `waitUntilStopped()`.
    public func shutdown() {
        let first = state.withLock { s -> Bool in
            defer { s.stopped = true }
            return s.started && !s.stopped
        }
        guard first else { return }
        context.logger.info("shutting down")
        for mailbox in context.mailboxes { mailbox.post(.shutdown) }
        context.httpMailbox.post(.shutdown)
    }

    /// Blocks until every event loop has ended (after `shutdown()`), then writes what is queued and a last
    /// snapshot, and closes the database. Returns what could not be saved (nil when everything was): the
    /// caller should exit non-zero and say so.
    @discardableResult
    public func waitUntilStopped() -> String? {
        for loop in loops { loop.join() }
        httpLoop?.join()
        // A connection handed to a loop that had already stopped: close it.
        for mailbox in context.mailboxes {
            for case .adopt(let fd) in mailbox.take() {
                close(fd)
                context.stats.currentConnections.subtract(1, ordering: .relaxed)
            }
        }
        let wasStarted = state.withLock { s -> Bool in
            defer { s.started = false }
            return s.started
        }
        context.handler.historyReader?.close()
        // The writer's last snapshot goes to etcd while this replica still leads; then it hands over.
        let failure = wasStarted ? writer.stop() : nil
        if wasStarted { cluster?.stop() }
        return failure
    }

    /// Re-reads the token files given at start (breakerd does this on SIGHUP): new `hello`s use the new tokens,
    /// connections that already succeeded keep their role. A file that cannot be read keeps the old tokens.
    /// Returns an error that says why nothing changed; logs one line either way.
    @discardableResult
    public func reloadTokens() -> ServerError? {
        let config = context.configuration
        guard config.requiresAuthentication else {
            context.logger.notice("SIGHUP: no token files were given at start; nothing to reload")
            return nil
        }
        do {
            let client =
                try config.clientTokenFile.map { (path) throws(ServerError) in try ServerOptions.tokens(path) } ?? []
            let admin =
                try config.adminTokenFile.map { (path) throws(ServerError) in try ServerOptions.tokens(path) } ?? []
            context.handler.authenticator.replace(client: client, admin: admin)
            context.logger.notice(
                "token files re-read; new hellos use them",
                metadata: ["client_tokens": "\(client.count)", "admin_tokens": "\(admin.count)"]
            )
            return nil
        } catch {
            context.logger.error("token files not re-read; the old tokens stay valid", metadata: ["error": "\(error)"])
            return error
        }
    }

    /// Re-reads the TLS certificate, key and client CA (breakerd does this on SIGHUP): new connections use them,
    /// open ones keep theirs. A file that cannot be read keeps the old ones; logs one line either way.
    @discardableResult
    public func reloadTLS() -> ServerError? {
        guard let holder = context.tls else { return nil }
        do {
            try holder.reload()
            context.logger.notice(
                "TLS certificate, key and CA re-read; new connections use them",
                metadata: ["certificate": "\(holder.files.certificateFile)"]
            )
            return nil
        } catch {
            context.logger.error("TLS files not re-read; the old ones stay in use", metadata: ["error": "\(error)"])
            return error
        }
    }

    /// Asks for a snapshot of every breaker now (breakerd does this on SIGUSR1).
    public func requestSnapshot() { writer.requestFullSnapshot() }
}
