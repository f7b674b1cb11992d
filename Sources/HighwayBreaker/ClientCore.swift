import BreakerClock
import BreakerCore
import BreakerProtocol
import CBreakerSystem
import Dispatch
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What a `BreakerClient` shares with its I/O thread: the configuration, the connection's state behind one
/// lock, and the eventfd that wakes the thread.
///
/// The I/O thread holds the core, never the client: the client's `deinit` shuts the core down, so dropping the
/// last reference to a client closes its connection and ends its thread.
final class ClientCore: Sendable {
    /// How a request (or a wait for the connection) ends: resuming a task, or waking a blocked thread. Exactly
    /// one party completes it: whoever removed it from the state.
    final class Waiter: Sendable {
        /// When it fails with `timeout`; nil: never (it ends with its connection).
        let deadline: MonotonicInstant?
        /// How long it waits (for the timeout's message).
        let timeout: Duration
        let complete: @Sendable (Result<JSONValue, BreakerClientError>) -> Void

        init(timeout: Duration?, complete: @escaping @Sendable (Result<JSONValue, BreakerClientError>) -> Void) {
            self.deadline = timeout.map { SystemClock.read() + $0 }
            self.timeout = timeout ?? .zero
            self.complete = complete
        }
    }

    /// What a caller of `wait(until:timeout:)` waits for.
    enum Condition: Sendable, Hashable {
        /// Connected, and `hello` answered when one is sent.
        case connected
        /// The server acknowledged, on the current connection, a watch that covers this prefix.
        case watching(prefix: String)
    }

    struct ConditionWait: Sendable {
        let condition: Condition
        let waiter: Waiter
    }

    struct Subscriber: Sendable {
        let prefix: String
        let handler: @Sendable (BreakerEvent) -> Void
        /// Called when the client shuts down (ends a `watch` stream).
        let finish: (@Sendable () -> Void)?
    }

    struct State: Sendable {
        var fd: Int32 = -1
        var nextID: Int64 = 1
        /// Requests waiting for their replies, by id.
        var pending: [Int64: Waiter] = [:]
        /// Callers waiting for a condition, by id (from the same counter as requests).
        var conditionWaits: [Int64: ConditionWait] = [:]
        /// Bytes not yet accepted by the socket; requests are written straight into it.
        var outbound = JSONWriter()
        /// Bytes at the front of `outbound` already sent (compacted away once they are many).
        var outboundSent = 0
        /// The connection's TLS session when ``BreakerClient/Configuration/tls`` is set: `flush` encrypts
        /// `outbound` into it and sends its bytes.
        var tls: TLSChannel?
        var subscribers: [UInt64: Subscriber] = [:]
        var nextSubscriber: UInt64 = 1
        /// The prefix last asked for on this connection (nil: none, or `unwatch`).
        var watchRequested: String?
        /// The prefix the server last acknowledged on this connection (nil: none).
        var watchAcknowledged: String?
        /// Connected, and `hello` answered when one was sent.
        var ready = false
        var closed = false
        /// Set when `hello` with a token was refused: requests fail with its error until the next connection.
        var refusal: BreakerClientError?
        var connections = 0
        /// Why the last connection attempt failed or the last connection ended, for messages.
        var lastProblem = "no connection attempt has finished yet"
        /// When the I/O thread wakes by itself at the latest; never later than any deadline (nil: none).
        var plannedWake: MonotonicInstant?
        /// Which of `configuration.servers` the next connection attempt goes to.
        var serverIndex = 0
        /// A cluster's leader named by a `not_leader` reply: the next attempt goes there first.
        var redirect: BreakerClient.Configuration.Server?
        /// The server of the current connection (nil while there is none).
        var connectedTo: BreakerClient.Configuration.Server?

        /// Request bytes not yet taken by the socket (encrypted or not).
        var unsentBytes: Int { outbound.bytes.count - outboundSent + (tls?.unsent ?? 0) }
    }

    let configuration: BreakerClient.Configuration
    /// A pthread lock rather than `Mutex`: every calling thread takes it to send (`Lock` says why that matters).
    let state = Lock(State())
    /// The I/O thread's `pthread_t` (0 until it starts), to refuse blocking calls made on it.
    let ioThread = Atomic<UInt>(0)
    let wakeFD: Int32
    let logger: Logger
    /// The resources this client leases (issue #14); the I/O thread drives their `lease` lines.
    let leases: LeaseKeeper

    init(configuration: BreakerClient.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        let wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        self.wakeFD = wakeFD
        // Whoever holds the keeper holds the core too (a leased breaker holds its client), so the eventfd is
        // still open whenever the keeper wakes the I/O thread.
        leases = LeaseKeeper(flushInterval: configuration.leaseFlushInterval) {
            var one: UInt64 = 1
            _ = Glibc.write(wakeFD, &one, 8)
        }
    }

    deinit { close(wakeFD) }

    static let closedError = BreakerClientError(code: .closed, message: "the client was shut down")

    /// Closes the connection and stops reconnecting: pending requests and waits fail with `closed`, `watch`
    /// streams end.
    func shutdown() {
        let (waiters, subscribers) = state.withLock { s -> ([Waiter], [Subscriber]) in
            guard !s.closed else { return ([], []) }
            s.closed = true
            let waiters = Array(s.pending.values) + s.conditionWaits.values.map(\.waiter)
            s.pending.removeAll()
            s.conditionWaits.removeAll()
            return (waiters, Array(s.subscribers.values))
        }
        wake()
        for w in waiters { w.complete(.failure(Self.closedError)) }
        for s in subscribers { s.finish?() }
    }

    // MARK: Requests

    /// Registers `waiter` under a new id, writes the request into the outbound buffer and sends what the socket
    /// takes now. Fails at once when there is no connection.
    @discardableResult
    func enqueue(_ operation: Request.Operation, waiter: Waiter?) throws(BreakerClientError) -> Int64 {
        let (id, needsWake) = try state.withLock { s in Self.enqueue(operation, waiter: waiter, in: &s, configuration) }
            .get()
        if needsWake { wake() }
        return id
    }

    /// `enqueue` under the lock. The result says whether the I/O thread must be woken: bytes are left to send,
    /// or the waiter's deadline comes before the thread's planned wake-up.
    static func enqueue(
        _ operation: Request.Operation,
        waiter: Waiter?,
        in s: inout State,
        _ configuration: BreakerClient.Configuration
    ) -> Result<(Int64, Bool), BreakerClientError> {
        if s.closed { return .failure(closedError) }
        if let refusal = s.refusal { return .failure(refusal) }
        guard s.fd >= 0 else {
            return .failure(
                BreakerClientError(
                    code: .unavailable,
                    message: "not connected to breakerd at \(configuration.server) (\(s.lastProblem)); reconnecting"
                )
            )
        }
        guard s.unsentBytes <= maximumOutboundBytes else {
            return .failure(
                BreakerClientError(
                    code: .unavailable,
                    message: "breakerd at \(configuration.server) is not reading this client's requests "
                        + "(\(maximumOutboundBytes / 1_048_576) MiB wait to be sent); the request was not sent"
                )
            )
        }
        let id = s.nextID
        s.nextID += 1
        var needsWake = false
        if let waiter {
            s.pending[id] = waiter
            needsWake = plan(waiter.deadline, in: &s)
        }
        Request(id: waiter == nil ? nil : .integer(id), operation).write(into: &s.outbound)
        flush(&s)
        return .success((id, needsWake || s.unsentBytes > 0))
    }

    /// Moves the planned wake-up to `deadline` when that is earlier; true when it moved (wake the thread).
    static func plan(_ deadline: MonotonicInstant?, in s: inout State) -> Bool {
        guard let deadline, s.plannedWake.map({ deadline < $0 }) ?? true else { return false }
        s.plannedWake = deadline
        return true
    }

    /// Sends a request and waits (suspending the task) for its reply or its timeout. Returns the reply object;
    /// an error reply throws its code and message.
    func send(_ operation: Request.Operation, timeout: Duration) async throws(BreakerClientError) -> JSONValue {
        let box = CancellationBox()
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation {
                (continuation: CheckedContinuation<Result<JSONValue, BreakerClientError>, Never>) in
                let waiter = Waiter(timeout: timeout) { continuation.resume(returning: $0) }
                do throws(BreakerClientError) {
                    let id = try enqueue(operation, waiter: waiter)
                    if !box.register(id) { fail(id, Self.cancelledError) }
                } catch {
                    waiter.complete(.failure(error))
                }
            }
        } onCancel: {
            if let id = box.cancel() { fail(id, Self.cancelledError) }
        }
        return try Self.unwrap(result)
    }

    /// Sends a request and blocks the calling thread until its reply or its timeout.
    func sendBlocking(_ operation: Request.Operation, timeout: Duration) throws(BreakerClientError) -> JSONValue {
        if isIOThread {
            throw BreakerClientError(
                code: .wrongThread,
                message: "a blocking call from an event handler runs on the client's I/O thread and would wait for "
                    + "itself; use the async API, or hand the work to another thread"
            )
        }
        let done = Mutex<Result<JSONValue, BreakerClientError>?>(nil)
        let signal = DispatchSemaphore(value: 0)
        let waiter = Waiter(timeout: timeout) { result in
            done.withLock { $0 = result }
            signal.signal()
        }
        try enqueue(operation, waiter: waiter)
        signal.wait()
        return try Self.unwrap(done.withLock { $0! })
    }

    /// True on the client's own I/O thread (in an event handler).
    var isIOThread: Bool {
        let io = ioThread.load(ordering: .acquiring)
        return io != 0 && pthread_equal(pthread_self(), pthread_t(io)) != 0
    }

    static let cancelledError = BreakerClientError(code: .cancelled, message: "the task was cancelled")

    /// The reply object, or the error it carries.
    static func unwrap(_ result: Result<JSONValue, BreakerClientError>) throws(BreakerClientError) -> JSONValue {
        let reply = try result.get()
        guard reply["ok"] == .bool(false) else { return reply }
        let error: ProtocolError
        do {
            error = try ProtocolError(json: reply)
        } catch {
            throw BreakerClientError(
                code: .malformedReply,
                message: "an error reply without its error: \(error.message)"
            )
        }
        throw BreakerClientError(code: error.code, message: error.message)
    }

    /// Fails the request or wait `id` (if it has not ended yet) with `error`.
    func fail(_ id: Int64, _ error: BreakerClientError) {
        let waiter = state.withLock {
            $0.pending.removeValue(forKey: id) ?? $0.conditionWaits.removeValue(forKey: id)?.waiter
        }
        waiter?.complete(.failure(error))
    }

    /// The most request bytes that may wait to be sent: past it requests fail at once with `unavailable` (a
    /// server that stopped reading cannot make the client's memory grow without a bound).
    static let maximumOutboundBytes = 8 * 1_048_576

    /// Sends as much of `outbound` as the socket takes now (non-blocking). Under the state lock. Sent bytes are
    /// skipped by an offset and compacted away only once they are many, so a slow socket costs no quadratic
    /// copying. With TLS, everything in `outbound` is encrypted at once and the channel keeps what the socket
    /// did not take.
    static func flush(_ s: inout State) {
        guard s.fd >= 0 else { return }
        if let tls = s.tls {
            if s.outboundSent < s.outbound.bytes.count {
                let start = s.outboundSent
                let error = s.outbound.bytes.withUnsafeBytes {
                    tls.encrypt(UnsafeRawBufferPointer(rebasing: $0[start...]))
                }
                s.outbound.bytes.removeAll(keepingCapacity: true)
                s.outboundSent = 0
                if let error {
                    // The I/O thread sees the connection end and reconnects; the reason stays for messages.
                    s.lastProblem = "TLS failed: \(error.message)"
                    _ = Glibc.shutdown(s.fd, Int32(SHUT_RDWR))
                    return
                }
            }
            tls.send(to: s.fd)
            return
        }
        guard s.outboundSent < s.outbound.bytes.count else { return }
        let fd = s.fd
        let start = s.outboundSent
        let n = s.outbound.bytes.withUnsafeBytes {
            Glibc.send(fd, $0.baseAddress! + start, $0.count - start, Int32(MSG_NOSIGNAL))
        }
        if n > 0 { s.outboundSent += n }
        if s.outboundSent == s.outbound.bytes.count {
            s.outbound.bytes.removeAll(keepingCapacity: true)
            s.outboundSent = 0
        } else if s.outboundSent > 65_536 && s.outboundSent > s.outbound.bytes.count / 2 {
            s.outbound.bytes.removeFirst(s.outboundSent)
            s.outboundSent = 0
        }
    }

    func wake() {
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
    }

    // MARK: Waiting for conditions

    /// Waits until `condition` holds, or fails after `timeout` (or at once when the client is closed or its
    /// token was refused).
    func wait(until condition: Condition, timeout: Duration) async throws(BreakerClientError) {
        let box = CancellationBox()
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation {
                (continuation: CheckedContinuation<Result<JSONValue, BreakerClientError>, Never>) in
                let waiter = Waiter(timeout: timeout) { continuation.resume(returning: $0) }
                let registered = state.withLock { s -> Result<(Int64, Bool)?, BreakerClientError> in
                    if s.closed { return .failure(Self.closedError) }
                    if let refusal = s.refusal { return .failure(refusal) }
                    if Self.holds(condition, in: s) { return .success(nil) }
                    let id = s.nextID
                    s.nextID += 1
                    s.conditionWaits[id] = ConditionWait(condition: condition, waiter: waiter)
                    return .success((id, Self.plan(waiter.deadline, in: &s)))
                }
                switch registered {
                case .failure(let error): waiter.complete(.failure(error))
                case .success(nil): waiter.complete(.success(.null))
                case .success((let id, let needsWake)?):
                    if needsWake { wake() }
                    if !box.register(id) { fail(id, Self.cancelledError) }
                }
            }
        } onCancel: {
            if let id = box.cancel() { fail(id, Self.cancelledError) }
        }
        _ = try result.get()
    }

    static func holds(_ condition: Condition, in s: State) -> Bool {
        switch condition {
        case .connected: s.ready
        case .watching(let prefix): s.ready && s.watchAcknowledged.map { prefix.hasPrefix($0) } ?? false
        }
    }

    /// Removes and returns the waits whose condition now holds. Under the state lock.
    static func takeSatisfied(_ s: inout State) -> [Waiter] {
        let ids = s.conditionWaits.compactMap { id, w in holds(w.condition, in: s) ? id : nil }
        return ids.compactMap { s.conditionWaits.removeValue(forKey: $0)?.waiter }
    }

    /// The error of a wait that timed out.
    func timeoutError(_ condition: Condition, after timeout: Duration, lastProblem: String) -> BreakerClientError {
        let within = DurationText.format(timeout)
        switch condition {
        case .connected:
            return BreakerClientError(
                code: .timeout,
                message: "could not connect to breakerd at \(configuration.server) within \(within) (\(lastProblem)); "
                    + "check that breakerd runs there and that host and port are right"
            )
        case .watching(let prefix):
            return BreakerClientError(
                code: .timeout,
                message: "breakerd did not acknowledge the watch of \"\(prefix)\" within \(within)"
            )
        }
    }
}
