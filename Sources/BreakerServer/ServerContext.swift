import Logging

/// What every event loop shares: set up once by `BreakerServer` before any loop starts, then read-only.
final class ServerContext: Sendable {
    let configuration: ServerConfiguration
    let stats: ServerStats
    let hub: WatcherHub
    let registry: BreakerRegistry
    let handler: RequestHandler
    let expiries: ExpiryQueue
    let logger: Logger
    let loops: [EventLoop]

    init(
        configuration: ServerConfiguration, stats: ServerStats, hub: WatcherHub, registry: BreakerRegistry,
        handler: RequestHandler, expiries: ExpiryQueue, logger: Logger, loops: [EventLoop]
    ) {
        self.configuration = configuration
        self.stats = stats
        self.hub = hub
        self.registry = registry
        self.handler = handler
        self.expiries = expiries
        self.logger = logger
        self.loops = loops
    }
}
