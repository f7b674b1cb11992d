public import BreakerCore
public import BreakerProtocol
public import Logging

/// A connection to `breakerd`, shared by every task of the process: requests are multiplexed by id and
/// pipelined on one TCP connection, with an async API for every operation of protocol v1.
///
/// ```swift
/// let client = BreakerClient(host: "127.0.0.1", port: 7433, clientName: "checkout")
/// try await client.connect()                       // optional: wait until the connection is up
/// let decision = try await client.acquire("payments-db")
/// ```
/// The client connects in the background; `connect(timeout:)` waits for it. Each request has a timeout
/// (default 100 ms for `acquire`/`report`, 5 s for the rest). While the server is unreachable requests fail at
/// once with `unavailable`; the client reconnects by itself with `Backoff` plus jitter, and sends `hello` and
/// `watch` again after reconnecting. Dropping the last reference closes the connection (as `shutdown()` does).
/// `Sendable`; safe with thousands of concurrent tasks.
public final class BreakerClient: Sendable {
    /// Where and how it connects.
    public var configuration: Configuration { core.configuration }
    let core: ClientCore

    /// Starts connecting in the background; requests made before the connection is up fail with `unavailable`
    /// (`connect(timeout:)` waits for it).
    public init(configuration: Configuration, logger: Logger = Logger(label: "highway-breaker.client")) {
        core = ClientCore(configuration: configuration, logger: logger)
        core.startIOThread()
    }

    /// Starts connecting to `host:port` in the background.
    public convenience init(
        host: String = "127.0.0.1",
        port: Int = 7433,
        token: String? = nil,
        clientName: String? = nil,
        logger: Logger = Logger(label: "highway-breaker.client")
    ) {
        self.init(
            configuration: Configuration(host: host, port: port, token: token, clientName: clientName),
            logger: logger
        )
    }

    deinit { core.shutdown() }

    /// Closes the connection and stops reconnecting. Pending requests fail with `closed`; `watch` streams end.
    public func shutdown() { core.shutdown() }

    /// True while a connection to the server is up.
    public var isConnected: Bool { core.state.withLock { $0.fd >= 0 } }

    /// How many times the client has connected (1 after the first connection; more after reconnects).
    public var connectionCount: Int { core.state.withLock { $0.connections } }

    /// Why the last connection attempt failed or the last connection ended (for example a TLS handshake's
    /// failure: unknown CA, name mismatch, expired, no client certificate).
    public var lastProblem: String { core.state.withLock { $0.lastProblem } }

    /// Waits until the connection is up and its `hello` (sent when there is a token or a client name) was
    /// answered. Returns at once when it already is.
    ///
    /// - Parameter timeout: how long to wait (default 5 s).
    /// - Throws: `BreakerClientError` `timeout` (its message names the server and why the last attempt failed),
    ///   `unauthorized` when the server refused the token, `closed` after `shutdown()`, `cancelled`.
    public func connect(timeout: Duration = .seconds(5)) async throws(BreakerClientError) {
        try await core.wait(until: .connected, timeout: timeout)
    }

    // MARK: Operations

    /// `ping`.
    public func ping() async throws(BreakerClientError) {
        _ = try await core.send(.ping, timeout: configuration.adminTimeout)
    }

    /// `acquire`: may a call to `resource` go ahead? `policy` is used only if this creates the breaker.
    public func acquire(
        _ resource: String,
        policy: BreakerPolicy? = nil
    ) async throws(BreakerClientError) -> AcquireReply {
        try await request(.acquire(resource: resource, policy: policy), timeout: configuration.requestTimeout)
    }

    /// `acquire`, blocking the calling thread (for synchronous code).
    public func acquireBlocking(
        _ resource: String,
        policy: BreakerPolicy? = nil
    ) throws(BreakerClientError) -> AcquireReply {
        let reply = try core.sendBlocking(
            .acquire(resource: resource, policy: policy),
            timeout: configuration.requestTimeout
        )
        return try Self.decode(AcquireReply.self, reply)
    }

    /// `report` of one outcome, waiting for the server's answer. `duration` is sent in whole milliseconds, rounded
    /// down, so that the server finds the call slow (`duration_ms` ≥ `slow_call_ms`) exactly when it took at
    /// least `slow_call_ms`.
    public func report(
        _ resource: String,
        outcome: Outcome,
        permit: Permit? = nil,
        duration: Duration? = nil,
        policy: BreakerPolicy? = nil
    ) async throws(BreakerClientError) -> ReportReply {
        let operation = Self.report(resource, outcome, permit, duration, policy, noreply: false)
        return try await request(operation, timeout: configuration.requestTimeout)
    }

    /// `report` of many outcomes without permits, `slow` of them (the last ones; at most `successes + failures`)
    /// slow.
    public func report(
        _ resource: String,
        successes: Int,
        failures: Int,
        slow: Int = 0
    ) async throws(BreakerClientError) -> ReportReply {
        let kind = Request.ReportKind.batch(successes: successes, failures: failures, slow: slow)
        let operation = Request.Operation.report(
            resource: resource,
            kind: kind,
            policy: nil,
            durationMs: nil,
            noreply: false
        )
        return try await request(operation, timeout: configuration.requestTimeout)
    }

    /// `report` with `noreply`: queued on the connection and not waited for (the hot path of
    /// `SharedCircuitBreaker`). Throws only when there is no connection.
    public func reportWithoutReply(
        _ resource: String,
        outcome: Outcome,
        permit: Permit? = nil,
        duration: Duration? = nil
    ) throws(BreakerClientError) {
        try core.enqueue(Self.report(resource, outcome, permit, duration, nil, noreply: true), waiter: nil)
    }

    /// `status` of one breaker.
    public func status(_ resource: String) async throws(BreakerClientError) -> BreakerInfo {
        try await breaker(.status(resource: resource))
    }

    /// Every breaker whose name starts with `prefix`, sorted by name: asks page after page (`listPage`) until
    /// none remain.
    public func list(prefix: String = "") async throws(BreakerClientError) -> [BreakerInfo] {
        var all: [BreakerInfo] = []
        var after: String?
        repeat {
            let page = try await listPage(prefix: prefix, after: after)
            all += page.breakers
            after = page.next
        } while after != nil
        return all
    }

    /// One `list` page: at most `limit` (1–10,000) breakers whose names start with `prefix`, after `after`
    /// (nil: from the first). The reply's `next` is set when more remain: pass it as `after`.
    public func listPage(
        prefix: String = "",
        after: String? = nil,
        limit: Int = Request.defaultListLimit
    )
        async throws(BreakerClientError) -> ListReply
    {
        try await request(.list(prefix: prefix, after: after, limit: limit), timeout: configuration.adminTimeout)
    }

    /// `configure` (admin): creates the breaker, or replaces its whole policy (fields left out of `policy` take
    /// their defaults, not the old values).
    public func configure(_ resource: String, policy: BreakerPolicy) async throws(BreakerClientError) -> BreakerInfo {
        try await breaker(.configure(resource: resource, policy: policy))
    }

    /// `force` (admin): forces the breaker open or closed, for `ttl` (nil: until released; sent in whole
    /// milliseconds, at least 1).
    public func force(
        _ resource: String,
        _ target: BreakerForce.Target,
        reason: String? = nil,
        ttl: Duration? = nil
    ) async throws(BreakerClientError) -> BreakerInfo {
        try await breaker(.force(resource: resource, target: target, reason: reason, ttl: ttl))
    }

    /// `release` (admin): ends a force.
    public func release(_ resource: String) async throws(BreakerClientError) -> BreakerInfo {
        try await breaker(.release(resource: resource))
    }

    /// `reset` (admin): back to closed with an empty window.
    public func reset(_ resource: String) async throws(BreakerClientError) -> BreakerInfo {
        try await breaker(.reset(resource: resource))
    }

    /// `delete` (admin).
    public func delete(_ resource: String) async throws(BreakerClientError) {
        _ = try await core.send(.delete(resource: resource), timeout: configuration.adminTimeout)
    }

    /// `history`: the newest `limit` transitions of `resource` (1–1,000), newest first.
    public func history(_ resource: String, limit: Int = 50) async throws(BreakerClientError) -> [TransitionRecord] {
        let reply: HistoryReply = try await request(
            .history(resource: resource, limit: limit),
            timeout: configuration.adminTimeout
        )
        return reply.transitions
    }

    /// `stats`: the server's counters.
    public func stats() async throws(BreakerClientError) -> StatsReply {
        try await request(.stats, timeout: configuration.adminTimeout)
    }

    /// `cluster`: the replica's view of its cluster (`breakerd --cluster`), or `mode` `single` for a single server.
    public func cluster() async throws(BreakerClientError) -> ClusterReply {
        try await request(.cluster, timeout: configuration.adminTimeout)
    }

    /// `hello` again (the client sends one by itself on every connection when it has a token or a name).
    public func hello() async throws(BreakerClientError) -> HelloReply {
        let operation = Request.Operation.hello(
            token: configuration.token,
            client: configuration.clientName,
            protocolVersion: 1
        )
        return try await request(operation, timeout: configuration.adminTimeout)
    }

    // MARK: Requests

    static func report(
        _ resource: String,
        _ outcome: Outcome,
        _ permit: Permit?,
        _ duration: Duration?,
        _ policy: BreakerPolicy?,
        noreply: Bool
    ) -> Request.Operation {
        .report(
            resource: resource,
            kind: .outcome(outcome, permit: permit),
            policy: policy,
            durationMs: duration.map { max(0, $0.nanosecondsClamped / 1_000_000) },
            noreply: noreply
        )
    }

    private func breaker(_ operation: Request.Operation) async throws(BreakerClientError) -> BreakerInfo {
        let reply: BreakerReply = try await request(operation, timeout: configuration.adminTimeout)
        return reply.breaker
    }

    /// Sends `operation` and decodes its reply as `R`.
    private func request<R: DecodableReply>(
        _ operation: Request.Operation,
        timeout: Duration
    ) async throws(BreakerClientError) -> R {
        try Self.decode(R.self, try await core.send(operation, timeout: timeout))
    }

    static func decode<R: DecodableReply>(_ type: R.Type, _ reply: JSONValue) throws(BreakerClientError) -> R {
        do {
            return try R(json: reply)
        } catch {
            throw BreakerClientError(code: .malformedReply, message: "\(R.self): \(error.message)")
        }
    }
}

extension AcquireReply: DecodableReply {}
extension ReportReply: DecodableReply {}
extension HelloReply: DecodableReply {}
extension BreakerReply: DecodableReply {}
extension ListReply: DecodableReply {}
extension HistoryReply: DecodableReply {}
extension StatsReply: DecodableReply {}
extension ClusterReply: DecodableReply {}
extension LeaseReply: DecodableReply {}
