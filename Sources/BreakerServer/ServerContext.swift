import Logging

/// What every event loop shares: set up once by `BreakerServer` before any loop starts, then read-only.
final class ServerContext: Sendable {
    let configuration: ServerConfiguration
    let stats: ServerStats
    let hub: WatcherHub
    let registry: BreakerRegistry
    let handler: RequestHandler
    let logger: Logger
    /// One per event loop, by index.
    let mailboxes: [Mailbox]

    init(
        configuration: ServerConfiguration,
        stats: ServerStats,
        hub: WatcherHub,
        registry: BreakerRegistry,
        handler: RequestHandler,
        logger: Logger,
        mailboxes: [Mailbox]
    ) {
        self.configuration = configuration
        self.stats = stats
        self.hub = hub
        self.registry = registry
        self.handler = handler
        self.logger = logger
        self.mailboxes = mailboxes
    }
}
