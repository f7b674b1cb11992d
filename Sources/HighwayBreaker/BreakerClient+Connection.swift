import BreakerCore
import BreakerProtocol
import CBreakerSystem
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The connection: enqueueing from callers' threads, and the I/O thread that connects, reads replies and
/// events, fires timeouts and reconnects.
extension BreakerClient {
    /// Registers `waiter` under a new id, writes the request (directly when the socket takes it), and returns
    /// the id. Fails at once when there is no connection.
    func enqueue(_ request: [String: JSONValue], waiter: Waiter?) throws(BreakerClientError) -> Int64 {
        var request = request
        let result = state.withLock { s -> Result<(Int64, Bool), BreakerClientError> in
            if s.closed { return .failure(BreakerClientError(code: .closed, message: "the client was shut down")) }
            if let refusal = s.refusal { return .failure(refusal) }
            guard s.fd >= 0 else {
                return .failure(
                    BreakerClientError(
                        code: .unavailable,
                        message: "not connected to breakerd at \(configuration.host):\(configuration.port); reconnecting"))
            }
            let id = s.nextID
            s.nextID += 1
            if let waiter {
                request["id"] = .integer(id)
                s.pending[id] = waiter
            }
            var w = JSONWriter(bytes: s.outbound)
            w.value(.object(request))
            w.newline()
            s.outbound = w.bytes
            Self.flush(&s)
            return .success((id, !s.outbound.isEmpty))
        }
        let (id, needsWriter) = try result.get()
        if needsWriter { wake() }
        return id
    }

    /// Fails the request `id` (if still pending) with `error`.
    func fail(_ id: Int64, _ error: BreakerClientError) {
        let waiter = state.withLock { $0.pending.removeValue(forKey: id) }
        waiter?.complete(.failure(error))
    }

    /// Sends as much of `outbound` as the socket takes now (non-blocking). Under the state lock.
    static func flush(_ s: inout State) {
        guard s.fd >= 0, !s.outbound.isEmpty else { return }
        let fd = s.fd
        let n = s.outbound.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n > 0 { s.outbound.removeFirst(n) }
    }

    func wake() {
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
    }

    /// Asks the server to watch the longest common prefix of the subscribers' prefixes (or nothing).
    func updateWatch() {
        let request = state.withLock { s -> [String: JSONValue]? in
            let wanted = Self.commonPrefix(s.subscribers.values.map(\.prefix))
            guard wanted != s.watching, s.fd >= 0 else { return nil }
            s.watching = wanted
            return wanted.map { ["op": .string("watch"), "prefix": .string($0)] } ?? ["op": .string("unwatch")]
        }
        if let request { try? write(request) }
    }

    static func commonPrefix(_ prefixes: [String]) -> String? {
        guard var common = prefixes.first else { return nil }
        for p in prefixes.dropFirst() {
            common = String(zip(common, p).prefix { $0 == $1 }.map(\.0))
        }
        return common
    }

    // MARK: The I/O thread

    func startIOThread() {
        let box = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            let client = Unmanaged<BreakerClient>.fromOpaque(arg!).takeRetainedValue()
            client.ioLoop()
            return nil
        }, box)
        if rc == 0 {
            pthread_detach(tid)
        } else {
            Unmanaged<BreakerClient>.fromOpaque(box).release()
            logger.error("could not start the client's I/O thread (errno \(rc))")
        }
    }

    private func ioLoop() {
        var attempt = 0
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        var reconnectAt = SystemClock.read()
        while !state.withLock({ $0.closed }) {
            let fd = state.withLock { $0.fd }
            if fd < 0 {
                let now = SystemClock.read()
                if now >= reconnectAt {
                    if connect() {
                        attempt = 0
                        buffer.removeAll()
                        continue
                    }
                    attempt += 1
                    reconnectAt = now + configuration.reconnectBackoff.delay(forAttempt: attempt)
                }
                waitForWake(until: min(reconnectAt, now + .milliseconds(50)))
                expireTimeouts()
                continue
            }

            let wantsWrite = state.withLock { !$0.outbound.isEmpty }
            var fds = [
                pollfd(fd: fd, events: Int16(POLLIN) | (wantsWrite ? Int16(POLLOUT) : 0), revents: 0),
                pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0),
            ]
            _ = poll(&fds, 2, 10)
            if fds[1].revents != 0 {
                var value: UInt64 = 0
                _ = read(wakeFD, &value, 8)
            }
            if fds[0].revents & Int16(POLLOUT) != 0 { state.withLock { Self.flush(&$0) } }
            if fds[0].revents & (Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)) != 0 {
                var lost = false
                while true {
                    let n = recv(fd, &chunk, chunk.count, Int32(MSG_DONTWAIT))
                    if n > 0 {
                        buffer.append(contentsOf: chunk[0..<n])
                        if n < chunk.count { break }
                    } else if n == 0 {
                        lost = true
                        break
                    } else {
                        if errno == EINTR { continue }
                        if errno != EAGAIN && errno != EWOULDBLOCK { lost = true }
                        break
                    }
                }
                deliverLines(&buffer)
                if lost {
                    disconnect(fd, reason: "the server closed the connection")
                    reconnectAt = SystemClock.read() + configuration.reconnectBackoff.delay(forAttempt: 1)
                    attempt = 1
                }
            }
            expireTimeouts()
        }
        let fd = state.withLock { s -> Int32 in
            defer { s.fd = -1 }
            return s.fd
        }
        if fd >= 0 { close(fd) }
    }

    private func waitForWake(until deadline: MonotonicInstant) {
        let ms = max(1, Int32(clamping: (deadline - SystemClock.read()).millisecondsRoundedUp))
        var fds = [pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        if poll(&fds, 1, ms) > 0 {
            var value: UInt64 = 0
            _ = read(wakeFD, &value, 8)
        }
    }

    /// One connection attempt, with `connectTimeout`. On success the connection is installed and `hello` and
    /// `watch` are queued first.
    private func connect() -> Bool {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(configuration.host, String(configuration.port), &hints, &result) == 0, let info = result else {
            return false
        }
        defer { freeaddrinfo(result) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        var ok = Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0
        if !ok && errno == EINPROGRESS {
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ms = Int32(clamping: configuration.connectTimeout.millisecondsRoundedUp)
            if poll(&pfd, 1, ms) == 1 {
                var error: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
                ok = error == 0
            }
        }
        guard ok else {
            close(fd)
            return false
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))

        let hello = configuration.token != nil || configuration.clientName != nil ? helloRequest() : nil
        let (helloID, watchPrefix, count) = state.withLock { s -> (Int64?, String?, Int) in
            s.fd = fd
            s.refusal = nil
            s.outbound.removeAll()
            s.watching = nil
            s.connections += 1
            var helloID: Int64?
            if var hello {
                helloID = s.nextID
                s.nextID += 1
                hello["id"] = .integer(helloID!)
                var w = JSONWriter()
                w.value(.object(hello))
                w.newline()
                s.outbound = w.bytes
            }
            return (helloID, Self.commonPrefix(s.subscribers.values.map(\.prefix)), s.connections)
        }
        if let helloID {
            // A refused hello makes every request fail with its error until the next connection.
            state.withLock {
                $0.pending[helloID] = Waiter(deadline: SystemClock.read() + configuration.adminTimeout) { [weak self] result in
                    guard let self, case .success(let reply) = result else { return }
                    do throws(BreakerClientError) {
                        _ = try Self.unwrap(.success(reply))
                    } catch {
                        // A wrong token fails every request at once. Without a token (only a name was sent),
                        // each request gets the server's own answer: ping still works.
                        guard self.configuration.token != nil else { return }
                        self.logger.error("breakerd refused hello: \(error.message)")
                        self.state.withLock { $0.refusal = error }
                    }
                }
            }
        }
        if watchPrefix != nil { updateWatch() }
        state.withLock { Self.flush(&$0) }
        logger.info(
            "connected to breakerd", metadata: ["server": "\(configuration.host):\(configuration.port)", "connection": "\(count)"])
        return true
    }

    private func disconnect(_ fd: Int32, reason: String) {
        let waiters = state.withLock { s -> [Waiter] in
            guard s.fd == fd else { return [] }
            s.fd = -1
            s.outbound.removeAll()
            s.watching = nil
            defer { s.pending.removeAll() }
            return Array(s.pending.values)
        }
        close(fd)
        logger.warning("lost the connection to breakerd; reconnecting", metadata: ["reason": "\(reason)"])
        let error = BreakerClientError(code: .disconnected, message: "the connection to breakerd was lost before the reply")
        for w in waiters { w.complete(.failure(error)) }
    }

    /// Parses complete lines: replies complete their waiters, events go to subscribers.
    private func deliverLines(_ buffer: inout [UInt8]) {
        var start = 0
        var completions: [(Waiter, JSONValue)] = []
        var events: [BreakerEvent] = []
        while let nl = buffer[start...].firstIndex(of: 0x0A) {
            let line = buffer[start..<nl]
            start = nl + 1
            guard let value = try? JSONParser.parse(line) else {
                logger.warning("breakerd sent a line that is not JSON; ignored")
                continue
            }
            if value["event"] != nil {
                if let event = try? BreakerEvent(json: value) { events.append(event) }
                continue
            }
            guard case .integer(let id)? = value["id"] else {
                if let message = value["error"]?["message"] { logger.warning("breakerd: \(message)") }
                continue
            }
            if let waiter = state.withLock({ $0.pending.removeValue(forKey: id) }) { completions.append((waiter, value)) }
        }
        buffer.removeFirst(start)
        for (waiter, value) in completions { waiter.complete(.success(value)) }
        guard !events.isEmpty else { return }
        let subscribers = state.withLock { Array($0.subscribers.values) }
        for event in events {
            for s in subscribers where event.resource.hasPrefix(s.prefix) { s.handler(event) }
        }
    }

    private func expireTimeouts() {
        let now = SystemClock.read()
        let expired = state.withLock { s -> [Waiter] in
            guard !s.pending.isEmpty else { return [] }
            var out: [Waiter] = []
            for (id, w) in s.pending where w.deadline <= now {
                out.append(w)
                s.pending.removeValue(forKey: id)
            }
            return out
        }
        let error = BreakerClientError(code: .timeout, message: "breakerd did not answer in time")
        for w in expired { w.complete(.failure(error)) }
    }
}
