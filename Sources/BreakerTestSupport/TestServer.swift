public import BreakerClock
public import BreakerServer
import Logging

/// A `BreakerServer` running in the test process on a free port with real sockets, usually on a
/// `ManualClock` so that time-based rules are tested without sleeping.
public final class TestServer {
    public let server: BreakerServer
    public let port: Int
    public let clock: ManualClock

    /// Starts a server; `configure` adjusts the configuration (port 0 and the manual clock are set first).
    public init(configure: (inout ServerConfiguration) -> Void = { _ in }) throws {
        let clock = ManualClock()
        var config = ServerConfiguration()
        config.listen = ListenAddress(host: "127.0.0.1", port: 0)
        config.clock = clock
        config.timerResolution = .milliseconds(10)
        config.databasePath = ":memory:"
        configure(&config)
        var logger = Logger(label: "test-breakerd")
        logger.logLevel = .critical
        server = try BreakerServer(configuration: config, logger: logger)
        port = try server.start().port
        self.clock = clock
    }

    /// A new client connection.
    public func connect(receiveBuffer: Int? = nil) throws -> LineClient {
        try LineClient(port: port, receiveBuffer: receiveBuffer)
    }

    deinit {
        server.shutdown()
        server.waitUntilStopped()
    }
}
