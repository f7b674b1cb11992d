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
    /// The HTTP loop's, whose connections have the index `mailboxes.count` in their keys.
    let httpMailbox: Mailbox
    /// The TLS context new connections use (replaced on SIGHUP), or nil for plain text.
    let tls: TLSContextHolder?
    /// Cluster mode's gate: a replica serves only while it leads (nil: a single server).
    let gate: ClusterGate?

    init(
        configuration: ServerConfiguration,
        stats: ServerStats,
        hub: WatcherHub,
        registry: BreakerRegistry,
        handler: RequestHandler,
        logger: Logger,
        mailboxes: [Mailbox],
        httpMailbox: Mailbox,
        tls: TLSContextHolder?,
        gate: ClusterGate? = nil
    ) {
        self.configuration = configuration
        self.stats = stats
        self.hub = hub
        self.registry = registry
        self.handler = handler
        self.logger = logger
        self.mailboxes = mailboxes
        self.httpMailbox = httpMailbox
        self.tls = tls
        self.gate = gate
    }
}
