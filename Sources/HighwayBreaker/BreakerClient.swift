public import BreakerCore
public import BreakerProtocol
import CBreakerSystem
import Dispatch
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A connection to `breakerd`, shared by every task of the process: requests are multiplexed by id and
/// pipelined on one TCP connection, with an async API for every operation of protocol v1.
///
/// ```swift
/// let client = BreakerClient(configuration: .init(host: "127.0.0.1", port: 7433, clientName: "checkout"))
/// let decision = try await client.acquire("payments-db")
/// ```
/// Each request has a timeout (default 100 ms for `acquire`/`report`, 5 s for the rest). While the server
/// is unreachable requests fail at once with `unavailable`; the client reconnects by itself with `Backoff`
/// plus jitter, and sends `hello` and `watch` again after reconnecting. `Sendable`; safe with thousands of
/// concurrent tasks.
public final class BreakerClient: Sendable {
    /// Where and how to connect.
    public struct Configuration: Sendable {
        /// The server's host (a name or a numeric address).
        public var host: String
        /// The server's port.
        public var port: Int
        /// The token for `hello`, when the server requires one.
        public var token: String?
        /// A name for the server's logs and audit log (sent in `hello`).
        public var clientName: String?
        /// How long `acquire` and `report` wait for a reply.
        public var requestTimeout: Duration = .milliseconds(100)
        /// How long other operations wait for a reply.
        public var adminTimeout: Duration = .seconds(5)
        /// How long one connection attempt may take.
        public var connectTimeout: Duration = .milliseconds(500)
        /// Waits between reconnection attempts (the first retry waits `minDelay`).
        public var reconnectBackoff: Backoff = try! Backoff(
            minDelay: .milliseconds(50), maxDelay: .seconds(1), factor: 2, jitter: 0.2)

        /// The first token in a token file (the format `TokenFile` reads, as breakerd's
        /// `--client-token-file` and `--admin-token-file` hold them).
        public static func readToken(fromFile path: String) throws(ConfigurationError) -> String {
            do {
                return try TokenFile.first(path)
            } catch {
                throw ConfigurationError.invalidValue("token file", "\(path): \(error.problem)")
            }
        }

        public init(host: String = "127.0.0.1", port: Int = 7433, token: String? = nil, clientName: String? = nil) {
            self.host = host
            self.port = port
            self.token = token
            self.clientName = clientName
        }
    }

    /// How a request waits for its reply: resuming a task, or waking a blocked thread.
    final class Waiter: Sendable {
        let deadline: MonotonicInstant
        let complete: @Sendable (Result<JSONValue, BreakerClientError>) -> Void

        init(deadline: MonotonicInstant, complete: @escaping @Sendable (Result<JSONValue, BreakerClientError>) -> Void) {
            self.deadline = deadline
            self.complete = complete
        }
    }

    struct Subscriber: Sendable {
        let prefix: String
        let handler: @Sendable (BreakerEvent) -> Void
    }

    struct State: Sendable {
        var fd: Int32 = -1
        var nextID: Int64 = 1
        var pending: [Int64: Waiter] = [:]
        /// Bytes not yet accepted by the socket.
        var outbound: [UInt8] = []
        var subscribers: [UInt64: Subscriber] = [:]
        var nextSubscriber: UInt64 = 1
        /// The prefix the server was asked to watch on this connection (nil: none).
        var watching: String?
        var closed = false
        /// Set when `hello` was refused: requests fail with its error until the next connection.
        var refusal: BreakerClientError?
        var connections = 0
    }

    let configuration: Configuration
    let state = Mutex(State())
    let wakeFD: Int32
    let logger: Logger

    /// Connects in the background; requests made before the connection is up fail with `unavailable`.
    public init(configuration: Configuration, logger: Logger = Logger(label: "highway-breaker.client")) {
        self.configuration = configuration
        self.logger = logger
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        startIOThread()
    }

    /// Connects to `host:port` in the background.
    public convenience init(host: String = "127.0.0.1", port: Int = 7433, token: String? = nil, clientName: String? = nil) {
        self.init(configuration: Configuration(host: host, port: port, token: token, clientName: clientName))
    }

    deinit { close(wakeFD) }

    /// Closes the connection and stops reconnecting. Pending requests fail with `closed`.
    public func shutdown() {
        let waiters = state.withLock { s -> [Waiter] in
            s.closed = true
            defer { s.pending.removeAll() }
            return Array(s.pending.values)
        }
        wake()
        for w in waiters { w.complete(.failure(BreakerClientError(code: .closed, message: "the client was shut down"))) }
    }

    /// True while a connection to the server is up.
    public var isConnected: Bool { state.withLock { $0.fd >= 0 } }

    /// How many times the client has connected (1 after the first connection; more after reconnects).
    public var connectionCount: Int { state.withLock { $0.connections } }

    /// Waits until connected (or `timeout` passes). Returns whether it is connected.
    @discardableResult
    public func waitUntilConnected(timeout: Duration = .seconds(5)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !isConnected && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        return isConnected
    }

    // MARK: Operations

    /// `ping`.
    public func ping() async throws(BreakerClientError) {
        _ = try await send(["op": .string("ping")], timeout: configuration.adminTimeout)
    }

    /// `acquire`: may a call to `resource` go ahead? `policy` is used only if this creates the breaker.
    public func acquire(_ resource: String, policy: BreakerPolicy? = nil) async throws(BreakerClientError) -> AcquireReply {
        let reply = try await send(Self.acquireRequest(resource, policy), timeout: configuration.requestTimeout)
        return try decode { () throws(ReplyDecodingError) in try AcquireReply(json: reply) }
    }

    /// `acquire`, blocking the calling thread (for synchronous code).
    public func acquireBlocking(_ resource: String, policy: BreakerPolicy? = nil) throws(BreakerClientError) -> AcquireReply {
        let reply = try sendBlocking(Self.acquireRequest(resource, policy), timeout: configuration.requestTimeout)
        return try decode { () throws(ReplyDecodingError) in try AcquireReply(json: reply) }
    }

    /// `report` of one outcome, waiting for the server's answer.
    public func report(
        _ resource: String, outcome: Outcome, permit: Permit? = nil, duration: Duration? = nil, policy: BreakerPolicy? = nil
    ) async throws(BreakerClientError) -> ReportReply {
        let request = Self.reportRequest(resource, outcome, permit, duration, policy, noreply: false)
        let reply = try await send(request, timeout: configuration.requestTimeout)
        return try decode { () throws(ReplyDecodingError) in try ReportReply(json: reply) }
    }

    /// `report` of many outcomes without permits.
    public func report(_ resource: String, successes: Int, failures: Int) async throws(BreakerClientError) -> ReportReply {
        let request: [String: JSONValue] = [
            "op": .string("report"), "resource": .string(resource), "successes": .integer(Int64(successes)),
            "failures": .integer(Int64(failures)),
        ]
        let reply = try await send(request, timeout: configuration.requestTimeout)
        return try decode { () throws(ReplyDecodingError) in try ReportReply(json: reply) }
    }

    /// `report` with `noreply`: queued on the connection and not waited for (the hot path of
    /// `SharedCircuitBreaker`). Throws only when there is no connection.
    public func reportWithoutReply(
        _ resource: String, outcome: Outcome, permit: Permit? = nil, duration: Duration? = nil
    ) throws(BreakerClientError) {
        try write(Self.reportRequest(resource, outcome, permit, duration, nil, noreply: true))
    }

    /// `status` of one breaker.
    public func status(_ resource: String) async throws(BreakerClientError) -> BreakerInfo {
        try await breaker(["op": .string("status"), "resource": .string(resource)])
    }

    /// `list` of the breakers whose names start with `prefix`, sorted by name.
    public func list(prefix: String = "") async throws(BreakerClientError) -> [BreakerInfo] {
        let reply = try await send(["op": .string("list"), "prefix": .string(prefix)], timeout: configuration.adminTimeout)
        return try decode { () throws(ReplyDecodingError) in
            guard case .array(let items)? = reply["breakers"] else { throw ReplyDecodingError("list without breakers") }
            var out: [BreakerInfo] = []
            for item in items { out.append(try BreakerInfo(json: item)) }
            return out
        }
    }

    /// `configure` (admin): creates the breaker or replaces its policy.
    public func configure(_ resource: String, policy: BreakerPolicy) async throws(BreakerClientError) -> BreakerInfo {
        var w = JSONWriter()
        WirePolicy.write(policy, to: &w)
        let policyJSON = (try? JSONParser.parse(w.bytes)) ?? .null
        return try await breaker(["op": .string("configure"), "resource": .string(resource), "policy": policyJSON])
    }

    /// `force` (admin): forces the breaker open or closed, for `ttl` (nil: until released).
    public func force(
        _ resource: String, _ target: BreakerForce.Target, reason: String? = nil, ttl: Duration? = nil
    ) async throws(BreakerClientError) -> BreakerInfo {
        var request: [String: JSONValue] = [
            "op": .string("force"), "resource": .string(resource), "state": .string(target.rawValue),
        ]
        if let reason { request["reason"] = .string(reason) }
        if let ttl { request["ttl_ms"] = .integer(max(1, ttl.millisecondsRoundedUp)) }
        return try await breaker(request)
    }

    /// `release` (admin): ends a force.
    public func release(_ resource: String) async throws(BreakerClientError) -> BreakerInfo {
        try await breaker(["op": .string("release"), "resource": .string(resource)])
    }

    /// `reset` (admin): back to closed with an empty window.
    public func reset(_ resource: String) async throws(BreakerClientError) -> BreakerInfo {
        try await breaker(["op": .string("reset"), "resource": .string(resource)])
    }

    /// `delete` (admin).
    public func delete(_ resource: String) async throws(BreakerClientError) {
        _ = try await send(["op": .string("delete"), "resource": .string(resource)], timeout: configuration.adminTimeout)
    }

    /// `history`: the newest `limit` transitions of `resource`, newest first.
    public func history(_ resource: String, limit: Int = 50) async throws(BreakerClientError) -> [TransitionRecord] {
        let reply = try await send(
            ["op": .string("history"), "resource": .string(resource), "limit": .integer(Int64(limit))],
            timeout: configuration.adminTimeout)
        return try decode { () throws(ReplyDecodingError) in
            guard case .array(let items)? = reply["transitions"] else { throw ReplyDecodingError("history without transitions") }
            var out: [TransitionRecord] = []
            for item in items { out.append(try TransitionRecord(json: item)) }
            return out
        }
    }

    /// `stats`: the server's counters, as the JSON object protocol v1 defines.
    public func stats() async throws(BreakerClientError) -> JSONValue {
        let reply = try await send(["op": .string("stats")], timeout: configuration.adminTimeout)
        guard let stats = reply["stats"] else {
            throw BreakerClientError(code: .malformedReply, message: "stats reply without stats")
        }
        return stats
    }

    /// `hello` again (the client sends one by itself on every connection when it has a token or a name).
    public func hello() async throws(BreakerClientError) -> HelloReply {
        let reply = try await send(helloRequest(), timeout: configuration.adminTimeout)
        return try decode { () throws(ReplyDecodingError) in
            guard case .string(let server)? = reply["server"], case .string(let version)? = reply["version"],
                case .integer(let p)? = reply["protocol"], case .string(let role)? = reply["role"]
            else { throw ReplyDecodingError("hello reply without server/version/protocol/role") }
            return HelloReply(server: server, version: version, protocolVersion: Int(p), role: role)
        }
    }

    /// Events of the resources whose names start with `prefix`, from every client of the server, until the
    /// stream is dropped. The subscription survives reconnects (events while disconnected are missed).
    public func watch(prefix: String = "") -> AsyncStream<BreakerEvent> {
        AsyncStream { continuation in
            let id = subscribe(prefix: prefix) { continuation.yield($0) }
            continuation.onTermination = { _ in self.unsubscribe(id) }
        }
    }

    /// Calls `handler` (on the client's I/O thread: keep it short) with each event of the resources whose
    /// names start with `prefix`. Returns a token for `unsubscribe(_:)`.
    @discardableResult
    public func subscribe(prefix: String, _ handler: @escaping @Sendable (BreakerEvent) -> Void) -> UInt64 {
        let id = state.withLock { s -> UInt64 in
            let id = s.nextSubscriber
            s.nextSubscriber += 1
            s.subscribers[id] = Subscriber(prefix: prefix, handler: handler)
            return id
        }
        updateWatch()
        return id
    }

    /// Ends a subscription.
    public func unsubscribe(_ id: UInt64) {
        _ = state.withLock { $0.subscribers.removeValue(forKey: id) }
        updateWatch()
    }

    // MARK: Requests

    static func acquireRequest(_ resource: String, _ policy: BreakerPolicy?) -> [String: JSONValue] {
        var request: [String: JSONValue] = ["op": .string("acquire"), "resource": .string(resource)]
        if let policy { request["policy"] = policyJSON(policy) }
        return request
    }

    static func reportRequest(
        _ resource: String, _ outcome: Outcome, _ permit: Permit?, _ duration: Duration?, _ policy: BreakerPolicy?,
        noreply: Bool
    ) -> [String: JSONValue] {
        var request: [String: JSONValue] = [
            "op": .string("report"), "resource": .string(resource), "outcome": .string(outcome.rawValue),
        ]
        if let permit { request["permit"] = .string(permit.description) }
        if let duration { request["duration_ms"] = .integer(max(0, duration.millisecondsRoundedUp)) }
        if let policy { request["policy"] = policyJSON(policy) }
        if noreply { request["noreply"] = .bool(true) }
        return request
    }

    static func policyJSON(_ policy: BreakerPolicy) -> JSONValue {
        var w = JSONWriter()
        WirePolicy.write(policy, to: &w)
        return (try? JSONParser.parse(w.bytes)) ?? .null
    }

    func helloRequest() -> [String: JSONValue] {
        var request: [String: JSONValue] = ["op": .string("hello"), "protocol": .integer(1)]
        if let token = configuration.token { request["token"] = .string(token) }
        if let name = configuration.clientName { request["client"] = .string(name) }
        return request
    }

    private func breaker(_ request: [String: JSONValue]) async throws(BreakerClientError) -> BreakerInfo {
        let reply = try await send(request, timeout: configuration.adminTimeout)
        return try decode { () throws(ReplyDecodingError) in
            guard let b = reply["breaker"] else { throw ReplyDecodingError("reply without breaker") }
            return try BreakerInfo(json: b)
        }
    }

    private func decode<T>(_ body: () throws(ReplyDecodingError) -> T) throws(BreakerClientError) -> T {
        do {
            return try body()
        } catch {
            throw BreakerClientError(code: .malformedReply, message: error.message)
        }
    }

    /// Sends a request and waits (suspending the task) for its reply or its timeout.
    func send(_ request: [String: JSONValue], timeout: Duration) async throws(BreakerClientError) -> JSONValue {
        let box = CancellationBox()
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<JSONValue, BreakerClientError>, Never>) in
                let waiter = Waiter(deadline: SystemClock.read() + timeout) { continuation.resume(returning: $0) }
                do throws(BreakerClientError) {
                    box.id = try enqueue(request, waiter: waiter)
                } catch {
                    waiter.complete(.failure(error))
                }
            }
        } onCancel: {
            if let id = box.id { fail(id, BreakerClientError(code: .cancelled, message: "the task was cancelled")) }
        }
        return try Self.unwrap(result)
    }

    /// Sends a request and blocks the calling thread until its reply or its timeout.
    func sendBlocking(_ request: [String: JSONValue], timeout: Duration) throws(BreakerClientError) -> JSONValue {
        let done = DispatchSemaphore(value: 0)
        let slot = Mutex<Result<JSONValue, BreakerClientError>?>(nil)
        let waiter = Waiter(deadline: SystemClock.read() + timeout) { result in
            slot.withLock { $0 = result }
            done.signal()
        }
        _ = try enqueue(request, waiter: waiter)
        done.wait()
        return try Self.unwrap(slot.withLock { $0! })
    }

    static func unwrap(_ result: Result<JSONValue, BreakerClientError>) throws(BreakerClientError) -> JSONValue {
        let reply = try result.get()
        if reply["ok"] == .bool(false) {
            let code = reply["error"]?["code"].flatMap { if case .string(let c) = $0 { c } else { nil } } ?? "unknown"
            let message = reply["error"]?["message"].flatMap { if case .string(let m) = $0 { m } else { nil } } ?? ""
            throw BreakerClientError(code: ErrorCode(rawValue: code), message: message)
        }
        return reply
    }

    /// Writes a request that expects no reply.
    func write(_ request: [String: JSONValue]) throws(BreakerClientError) {
        _ = try enqueue(request, waiter: nil)
    }
}

/// The id of a request, set once it is enqueued, for the cancellation handler.
final class CancellationBox: @unchecked Sendable {
    // Safety: written once before the continuation can be cancelled-and-looked-up in a way that matters;
    // a stale nil only means a cancelled request waits for its own timeout.
    var id: Int64?
}
