public import Logging
import BreakerClock
import BreakerCore
import BreakerProtocol
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
    public static let version = "0.1.0"

    private let context: ServerContext
    private let state = Mutex<(started: Bool, stopped: Bool, bound: ListenAddress?)>((false, false, nil))

    /// The breakers (for tests, persistence and embedding).
    public var registry: BreakerRegistry { context.registry }

    /// Sets the server up; nothing listens until `start()`.
    public init(configuration: ServerConfiguration, logger: Logger) throws(ServerError) {
        try configuration.validate()
        let now = configuration.clock.now
        let loops = try (0..<configuration.eventLoopCount).map { (i) throws(ServerError) in try EventLoop(index: i, now: now) }
        let stats = ServerStats(loops: loops.count, startedAtMs: configuration.wallClock())
        let hub = WatcherHub { key, line in loops[key.loop].post(.event(key, line)) }
        let registry = BreakerRegistry(
            maximumBreakers: configuration.maximumBreakers, defaultPolicy: configuration.defaultPolicy,
            clock: configuration.clock, wallClock: configuration.wallClock
        ) { resource, record in
            hub.broadcast(resource: resource, line: Event.transition(resource: resource, record))
        }
        let expiries = ExpiryQueue()
        let handler = RequestHandler(
            registry: registry, hub: hub, stats: stats, authenticator: Authenticator(configuration: configuration),
            expiries: expiries, clock: configuration.clock, wallClock: configuration.wallClock,
            serverVersion: Self.version, logger: logger)
        context = ServerContext(
            configuration: configuration, stats: stats, hub: hub, registry: registry, handler: handler,
            expiries: expiries, logger: logger, loops: loops)
        for loop in loops { loop.context = context }
    }

    /// Binds the listening socket and starts the event loops. Returns the address bound (with the real port).
    @discardableResult
    public func start() throws(ServerError) -> ListenAddress {
        signal(SIGPIPE, SIG_IGN)
        let (fd, bound) = try Listener.open(context.configuration.listen)
        try context.loops[0].adoptListener(fd)
        for loop in context.loops { try loop.start() }
        state.withLock {
            $0.started = true
            $0.bound = bound
        }
        context.logger.info(
            "listening", metadata: [
                "address": "\(bound)", "auth": "\(context.configuration.requiresAuthentication)",
                "event_loops": "\(context.loops.count)",
            ])
        return bound
    }

    /// The address bound by `start()`.
    public var boundAddress: ListenAddress? { state.withLock { $0.bound } }

    /// Stops accepting, answers the requests already received, sends what is pending (for at most the
    /// configured grace), and closes every connection. Returns at once; see `waitUntilStopped()`.
    public func shutdown() {
        let first = state.withLock { s -> Bool in
            defer { s.stopped = true }
            return s.started && !s.stopped
        }
        guard first else { return }
        context.logger.info("shutting down")
        for loop in context.loops { loop.post(.shutdown) }
    }

    /// Blocks until every event loop has ended (after `shutdown()`).
    public func waitUntilStopped() {
        for loop in context.loops { loop.join() }
    }
}
