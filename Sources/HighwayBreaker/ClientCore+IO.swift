import BreakerClock
import BreakerCore
import BreakerProtocol
import CBreakerSystem
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The I/O thread: connects, reads replies and events, fails what timed out and reconnects. It sleeps in
/// `poll` until the socket or the wake-up eventfd has something, or the next deadline (a request's timeout,
/// a wait's timeout, the next reconnection attempt, the next `lease` line) comes: with nothing pending it sleeps until woken.
extension ClientCore {
    /// Starts the I/O thread. It holds the core (not the client) until the core is shut down.
    func startIOThread() {
        let box = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(
            &tid,
            nil,
            { arg in
                let core = Unmanaged<ClientCore>.fromOpaque(arg!).takeRetainedValue()
                core.ioThread.store(UInt(pthread_self()), ordering: .releasing)
                core.ioLoop()
                return nil
            },
            box
        )
        if rc == 0 {
            pthread_detach(tid)
        } else {
            Unmanaged<ClientCore>.fromOpaque(box).release()
            logger.error("could not start the client's I/O thread (errno \(rc))")
        }
    }

    private func ioLoop() {
        var attempt = 0
        var reconnectAt = SystemClock.read()
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let (closed, fd, wantsWrite, encrypted) = state.withLock {
                ($0.closed, $0.fd, $0.unsentBytes > 0, $0.tls != nil)
            }
            if closed { break }
            if fd < 0 {
                if SystemClock.read() >= reconnectAt {
                    if connect() {
                        attempt = 0
                        buffer.removeAll(keepingCapacity: true)
                        continue
                    }
                    attempt += 1
                    // With several servers, the next one is tried at once; the backoff counts whole rounds.
                    let servers = configuration.servers.count
                    reconnectAt =
                        attempt % servers != 0 || state.withLock({ $0.redirect != nil })
                        ? SystemClock.read()
                        : SystemClock.read() + configuration.reconnectBackoff.delay(forAttempt: attempt / servers)
                }
                pollOnce(socket: -1, wantsWrite: false, timeout: expireAndPlan(reconnectAt: reconnectAt))
                continue
            }

            let leaseDue = driveLeases(via: self)
            let timeout = expireAndPlan(reconnectAt: nil, leaseDue: leaseDue)
            let revents = pollOnce(socket: fd, wantsWrite: wantsWrite, timeout: timeout)
            if revents & Int16(POLLOUT) != 0 { state.withLock { Self.flush(&$0) } }
            guard revents & (Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)) != 0 else { continue }
            var lost: String?
            while true {
                let n = recv(fd, &chunk, chunk.count, Int32(MSG_DONTWAIT))
                if n > 0 {
                    if encrypted {
                        lost = decrypt(chunk[0..<n], appendingTo: &buffer)
                        if lost != nil { break }
                    } else {
                        buffer.append(contentsOf: chunk[0..<n])
                    }
                    if n < chunk.count { break }
                } else if n == 0 {
                    lost = "the server closed the connection"
                    break
                } else {
                    if errno == EINTR { continue }
                    if errno != EAGAIN && errno != EWOULDBLOCK { lost = "reading failed (errno \(errno))" }
                    break
                }
            }
            deliverLines(&buffer)
            if let lost {
                disconnect(fd, reason: lost)
                // Sent to a cluster's leader, or on to the next replica: at once. The same server again: after
                // the first backoff step.
                let redirected = state.withLock { $0.redirect != nil }
                attempt = redirected || configuration.servers.count > 1 ? 0 : 1
                reconnectAt =
                    attempt == 0
                    ? SystemClock.read() : SystemClock.read() + configuration.reconnectBackoff.delay(forAttempt: 1)
            }
        }
        let fd = state.withLock { s -> Int32 in
            defer {
                s.fd = -1
                s.tls = nil
            }
            return s.fd
        }
        if fd >= 0 { close(fd) }
    }

    /// Waits for the socket (when `socket` ≥ 0), the wake-up eventfd, or `timeout` ms (-1: no limit). Returns
    /// the socket's events.
    @discardableResult
    private func pollOnce(socket: Int32, wantsWrite: Bool, timeout: Int32) -> Int16 {
        var fds = [
            pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0),
            pollfd(fd: socket, events: Int16(POLLIN) | (wantsWrite ? Int16(POLLOUT) : 0), revents: 0),
        ]
        _ = poll(&fds, socket >= 0 ? 2 : 1, timeout)
        if fds[0].revents != 0 {
            var value: UInt64 = 0
            _ = read(wakeFD, &value, 8)
        }
        return socket >= 0 ? fds[1].revents : 0
    }

    /// Sends the `lease` line when it is due (leased mode); returns when the next one is (nil: not before the
    /// answer, or nothing is leased). A line that becomes due sooner (after a failure) wakes the thread.
    private func driveLeases(via transport: some LeaseTransport) -> MonotonicInstant? {
        leases.flushIfDue(via: transport)
        return leases.nextFlush()
    }

    /// Fails the requests and waits whose deadline passed, plans the next wake-up, and returns the poll
    /// timeout in ms until it (or `reconnectAt` or `leaseDue`, when earlier); -1 when nothing has a deadline.
    ///
    /// The pending requests are scanned only once the planned wake-up has come: until then it is a bound on
    /// every deadline (each new request moves it earlier when it has to), so a busy client does not scan its
    /// pending requests on every reply, and an idle one wakes at most once more, then sleeps until woken.
    private func expireAndPlan(reconnectAt: MonotonicInstant?, leaseDue: MonotonicInstant? = nil) -> Int32 {
        let now = SystemClock.read()
        var expired: [(Waiter, BreakerClientError)] = []
        let planned = state.withLock { s -> MonotonicInstant? in
            if let planned = s.plannedWake, now < planned { return planned }
            var earliest: MonotonicInstant?
            var expiredIDs: [Int64] = []
            for (id, w) in s.pending {
                guard let deadline = w.deadline else { continue }
                if deadline <= now { expiredIDs.append(id) } else { earliest = min(earliest ?? deadline, deadline) }
            }
            for id in expiredIDs {
                guard let w = s.pending.removeValue(forKey: id) else { continue }
                let ms = w.timeout.millisecondsRoundedUp
                expired.append(
                    (w, BreakerClientError(code: .timeout, message: "breakerd did not answer within \(ms) ms"))
                )
            }
            var expiredWaits: [Int64] = []
            for (id, w) in s.conditionWaits {
                guard let deadline = w.waiter.deadline else { continue }
                if deadline <= now { expiredWaits.append(id) } else { earliest = min(earliest ?? deadline, deadline) }
            }
            for id in expiredWaits {
                guard let w = s.conditionWaits.removeValue(forKey: id) else { continue }
                expired.append(
                    (w.waiter, timeoutError(w.condition, after: w.waiter.timeout, lastProblem: s.lastProblem))
                )
            }
            s.plannedWake = earliest
            return earliest
        }
        for (w, error) in expired { w.complete(.failure(error)) }
        let wakeAt = [planned, reconnectAt, leaseDue].compactMap { $0 }.min()
        guard let wakeAt else { return -1 }
        return Int32(clamping: max(0, (wakeAt - SystemClock.read()).millisecondsRoundedUp))
    }

    /// One connection attempt, with `connectTimeout`. On success the connection is installed, and `hello` (when
    /// there is a token or a name) and `watch` (when there are subscribers) are queued first.
    private func connect() -> Bool {
        // A leader named by not_leader first (once), else the servers in turn.
        let target = state.withLock { s -> BreakerClient.Configuration.Server in
            if let redirect = s.redirect {
                s.redirect = nil
                return redirect
            }
            return configuration.servers[s.serverIndex % configuration.servers.count]
        }
        let fd: Int32
        switch openSocket(target) {
        case .success(let socket): fd = socket
        case .failure(let problem):
            state.withLock {
                $0.lastProblem = configuration.servers.count > 1 ? "\(target): \(problem.message)" : problem.message
                $0.serverIndex = ($0.serverIndex + 1) % configuration.servers.count
            }
            return false
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var channel: TLSChannel?
        if let tls = configuration.tls {
            switch handshake(fd: fd, tls: tls, host: target.host) {
            case .success(let established): channel = established
            case .failure(let problem):
                close(fd)
                // Logged once per new reason, not on every reconnection attempt.
                let repeated = state.withLock { s -> Bool in
                    defer { s.lastProblem = problem.message }
                    return s.lastProblem == problem.message
                }
                if !repeated {
                    logger.warning("TLS handshake with breakerd failed", metadata: ["reason": "\(problem.message)"])
                }
                return false
            }
        }

        let sendsHello = configuration.token != nil || configuration.clientName != nil
        let (count, ready) = state.withLock { s -> (Int, [Waiter]) in
            s.fd = fd
            s.connectedTo = target
            s.tls = channel
            s.refusal = nil
            s.outbound.bytes.removeAll(keepingCapacity: true)
            s.outboundSent = 0
            s.watchRequested = nil
            s.watchAcknowledged = nil
            s.connections += 1
            s.ready = !sendsHello
            let connection = s.connections
            if sendsHello {
                let hello = Request.Operation.hello(
                    token: configuration.token,
                    client: configuration.clientName,
                    protocolVersion: 1
                )
                let waiter = Waiter(timeout: configuration.adminTimeout) { [weak self] result in
                    self?.helloAnswered(result, connection: connection)
                }
                _ = Self.enqueue(hello, waiter: waiter, in: &s, configuration)
            }
            _ = updateWatch(&s)
            return (connection, Self.takeSatisfied(&s))
        }
        for w in ready { w.complete(.success(.null)) }
        logger.info("connected to breakerd", metadata: ["server": "\(target)", "connection": "\(count)"])
        return true
    }

    /// A connected non-blocking socket to `server`, or why there is none.
    private func openSocket(_ server: BreakerClient.Configuration.Server) -> Result<Int32, BreakerClientError> {
        func problem(_ text: String) -> Result<Int32, BreakerClientError> {
            .failure(BreakerClientError(code: .unavailable, message: text))
        }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(server.host, String(server.port), &hints, &result)
        guard rc == 0, let info = result else {
            return problem("cannot resolve \"\(server.host)\": \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(result) }
        let flags = Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue)
        let fd = socket(info.pointee.ai_family, flags, 0)
        guard fd >= 0 else { return problem("socket() failed: \(String(cString: strerror(errno)))") }
        var error: Int32 = 0
        if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 {
            error = errno
            if error == EINPROGRESS {
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let ms = Int32(clamping: configuration.connectTimeout.millisecondsRoundedUp)
                if poll(&pfd, 1, ms) == 1 {
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
                } else {
                    error = ETIMEDOUT
                }
            }
        }
        guard error == 0 else {
            close(fd)
            return problem("last attempt: \(String(cString: strerror(error)))")
        }
        return .success(fd)
    }

    /// The answer to the connection's `hello`: the connection is ready, or (with a token) refused.
    private func helloAnswered(_ result: Result<JSONValue, BreakerClientError>, connection: Int) {
        guard case .success(let reply) = result else {
            // A hello that was not answered in time would leave the connection not ready for good: drop it (the
            // I/O thread then reconnects with its backoff) rather than wait for a reply that was given up on.
            if case .failure(let error) = result, error.code == .timeout {
                let fd = state.withLock { s in s.connections == connection ? s.fd : -1 }
                if fd >= 0 {
                    logger.warning("breakerd did not answer hello in time; reconnecting")
                    _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
                }
            }
            return
        }
        var refusal: BreakerClientError?
        do throws(BreakerClientError) {
            _ = try Self.unwrap(.success(reply))
        } catch {
            // A wrong token fails every request at once. Without a token (only a name was sent), each request
            // gets the server's own answer: ping still works.
            if configuration.token != nil { refusal = error }
        }
        if let refusal { logger.error("breakerd refused hello: \(refusal.message)") }
        let (satisfied, failed) = state.withLock { s -> ([Waiter], [Waiter]) in
            guard s.connections == connection, s.fd >= 0 else { return ([], []) }
            guard let refusal else {
                s.ready = true
                return (Self.takeSatisfied(&s), [])
            }
            s.refusal = refusal
            s.lastProblem = "hello refused: \(refusal.message)"
            defer { s.conditionWaits.removeAll() }
            return ([], s.conditionWaits.values.map(\.waiter))
        }
        for w in satisfied { w.complete(.success(.null)) }
        for w in failed { w.complete(.failure(refusal!)) }
    }

    private func disconnect(_ fd: Int32, reason: String) {
        let (waiters, repeated) = state.withLock { s -> ([Waiter], Bool) in
            guard s.fd == fd else { return ([], true) }
            s.fd = -1
            s.connectedTo = nil
            // Unless sent to a leader, the next attempt goes to the next replica (the same one when there is one).
            if s.redirect == nil { s.serverIndex = (s.serverIndex + 1) % configuration.servers.count }
            s.tls = nil
            s.ready = false
            s.outbound.bytes.removeAll(keepingCapacity: true)
            s.outboundSent = 0
            s.watchRequested = nil
            s.watchAcknowledged = nil
            let problem = "the last connection ended: \(reason)"
            // The same ending again and again (a server that refuses this client's certificate after every
            // handshake) is logged once, not on every reconnection.
            let repeated = s.lastProblem == problem
            s.lastProblem = problem
            defer { s.pending.removeAll() }
            return (Array(s.pending.values), repeated)
        }
        close(fd)
        leases.connectionLost()
        if !repeated {
            logger.warning("lost the connection to breakerd; reconnecting", metadata: ["reason": "\(reason)"])
        }
        let error = BreakerClientError(
            code: .disconnected,
            message: "the connection to breakerd was lost before the reply"
        )
        for w in waiters { w.complete(.failure(error)) }
    }

    /// Parses complete lines: replies complete their requests, events go to subscribers.
    private func deliverLines(_ buffer: inout [UInt8]) {
        var start = 0
        var replies: [(Int64, JSONValue)] = []
        var events: [BreakerEvent] = []
        while let nl = buffer[start...].firstIndex(of: 0x0A) {
            let line = buffer[start..<nl]
            start = nl + 1
            guard let value = try? JSONParser.parse(line) else {
                logger.warning("breakerd sent a line that is not JSON; ignored")
                continue
            }
            if value["event"] != nil {
                do throws(ReplyDecodingError) {
                    if let event = try BreakerEvent(json: value) { events.append(event) }
                } catch {
                    logger.warning(
                        "breakerd sent a malformed event; ignored",
                        metadata: ["problem": "\(error.message)"]
                    )
                }
                continue
            }
            guard case .integer(let id)? = value["id"] else {
                if let error = try? ProtocolError(json: value) { logger.warning("breakerd: \(error)") }
                continue
            }
            if value["ok"] == .bool(false) { followLeader(named: value) }
            replies.append((id, value))
        }
        buffer.removeFirst(start)
        if !replies.isEmpty {
            let completions = state.withLock { s in
                replies.compactMap { id, value in s.pending.removeValue(forKey: id).map { ($0, value) } }
            }
            for (waiter, value) in completions { waiter.complete(.success(value)) }
        }
        guard !events.isEmpty else { return }
        let subscribers = state.withLock { Array($0.subscribers.values) }
        for event in events {
            for s in subscribers where event.resource.hasPrefix(s.prefix) { s.handler(event) }
        }
    }
}
