import BreakerClock
import BreakerCore
import BreakerProtocol
import BreakerTLS
import CBreakerSystem
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One thread running `epoll_wait` over its share of the connections. Each readiness event reads everything
/// available, answers every complete line, and sends the replies with one write. What a connection does is
/// decided by its `ConnectionStateMachine`; the loop carries out the actions. The loop sleeps until a socket,
/// a message or its earliest timer (force TTLs it scheduled, connection deadlines) needs it.
///
/// Thread safety (`@unchecked Sendable`): every `var` here is read and written only on the loop's own thread.
/// Other threads reach it only through its `Mailbox`.
final class EventLoop: @unchecked Sendable {
    let index: Int
    let context: ServerContext
    let epollFD: Int32
    private let mailbox: Mailbox
    private var listenFD: Int32 = -1
    /// Set after `accept` ran out of descriptors: accepting resumes then (real time).
    private var acceptPausedUntil: MonotonicInstant?
    private var lastDescriptorWarning: MonotonicInstant?
    /// Looked up a few times per readiness event, so without dynamic exclusivity checks: every access is a
    /// lookup, an assignment or a removal that calls nothing back (iterations go over a copy of the values).
    @exclusivity(unchecked) var connections: [Int32: Connection] = [:]
    private var nextSerial: UInt64 = 1
    private var nextLoop = 0
    private var running = true
    /// Set by `shutdown`: when the loop stops waiting for replies to drain (real time).
    private(set) var shutdownDeadline: MonotonicInstant?
    let readBuffer: UnsafeMutableRawBufferPointer
    /// Where TLS connections' decrypted bytes go.
    let plainBuffer: UnsafeMutableRawBufferPointer
    var timers = LoopTimers()
    private var thread: pthread_t?

    static let readChunk = 64 * 1_024

    init(index: Int, context: ServerContext) throws(ServerError) {
        self.index = index
        self.context = context
        self.mailbox = context.mailboxes[index]
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { throw ServerError.system("epoll_create1", errno: errno) }
        readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readChunk, alignment: 16)
        plainBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readChunk, alignment: 16)
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue
        ev.data.fd = mailbox.wakeFD
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, mailbox.wakeFD, &ev) == 0 else {
            throw ServerError.system("epoll_ctl(eventfd)", errno: errno)
        }
    }

    deinit {
        readBuffer.deallocate()
        plainBuffer.deallocate()
        close(epollFD)
    }

    /// Starts the loop's thread.
    func start() throws(ServerError) {
        thread = try ServerThread.start(joinable: true) { self.run() }
    }

    /// Waits for the loop's thread to end.
    func join() {
        if let thread { pthread_join(thread, nil) }
    }

    /// Watches a force TTL restored from the database (before the loop starts).
    func scheduleRestoredExpiry(_ resource: String, at instant: MonotonicInstant) {
        timers.schedule(.expiry(resource: resource), at: instant)
    }

    // MARK: The loop

    /// Makes this loop accept connections on `fd`.
    func adoptListener(_ fd: Int32) throws(ServerError) {
        listenFD = fd
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue
        ev.data.fd = fd
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &ev) == 0 else {
            throw ServerError.system("epoll_ctl(listener)", errno: errno)
        }
    }

    private func run() {
        let capacity = 256
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
        defer { events.deallocate() }
        while running {
            let n = epoll_wait(epollFD, events, Int32(capacity), waitMilliseconds())
            if n < 0 && errno != EINTR {
                context.logger.error("epoll_wait failed: \(String(cString: strerror(errno)))")
                break
            }
            for i in 0..<Int(max(n, 0)) {
                let fd = events[i].data.fd
                let flags = events[i].events
                if fd == mailbox.wakeFD {
                    drainInbox()
                } else if fd == listenFD {
                    acceptAll()
                } else if let connection = connections[fd] {
                    if flags & (EPOLLIN.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue | EPOLLRDHUP.rawValue) != 0 {
                        readable(connection)
                    }
                    if flags & EPOLLOUT.rawValue != 0, connection.isOpen {
                        flush(connection)
                    }
                }
            }
            fireTimers()
        }
        for connection in Array(connections.values) { closeConnection(connection) }
    }

    /// How long `epoll_wait` may sleep: until the earliest timer (at most the configured timer resolution, so
    /// that a test's manual clock is noticed), or for ever when no timer is pending.
    private func waitMilliseconds() -> Int32 {
        let resolution = context.configuration.timerResolution
        if shutdownDeadline != nil || acceptPausedUntil != nil {
            return Int32(max(1, resolution.millisecondsRoundedUp))
        }
        guard let earliest = timers.earliest else { return -1 }
        let wait = min(max(earliest - context.configuration.clock.now, .zero), resolution)
        return Int32(clamping: wait.millisecondsRoundedUp)
    }

    private func drainInbox() {
        for message in mailbox.take() {
            switch message {
            case .adopt(let fd): adopt(fd)
            case .event(let key, let line): deliver(line, to: key)
            case .committed(let key, let failure): committed(key, failure: failure)
            case .shutdown: beginShutdown()
            case .scheduleExpiry(let resource, let at): scheduleRestoredExpiry(resource, at: at)
            case .probe(let sequence): context.httpMailbox.post(.probeAnswered(loop: index, sequence: sequence))
            case .probeAnswered: break
            }
        }
    }

    // MARK: Accepting

    private func acceptAll() {
        while listenFD >= 0 {
            let fd = cbs_accept_nonblocking(listenFD)
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if errno == EMFILE || errno == ENFILE { pauseAccepting(errno) }
                return
            }
            let stats = context.stats
            if let refusal = admissionRefusal() {
                stats.rejectedConnections.add(1, ordering: .relaxed)
                var w = JSONWriter()
                Reply.error(id: nil, refusal, into: &w)
                _ = w.bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                shutdown(fd, Int32(SHUT_WR))
                close(fd)
                continue
            }
            stats.currentConnections.add(1, ordering: .relaxed)
            stats.totalConnections.add(1, ordering: .relaxed)
            let target = nextLoop % context.mailboxes.count
            nextLoop &+= 1
            if target == index { adopt(fd) } else { context.mailboxes[target].post(.adopt(fd: fd)) }
        }
    }

    /// Out of descriptors: the pending connection stays in the kernel's queue, and a level-triggered listener
    /// would wake the loop at once, for ever. Stop watching the listener for 100 ms, and log at most once a second.
    private func pauseAccepting(_ error: Int32) {
        let now = SystemClock.read()
        acceptPausedUntil = now + .milliseconds(100)
        epoll_ctl(epollFD, EPOLL_CTL_DEL, listenFD, nil)
        if lastDescriptorWarning.map({ now - $0 >= .seconds(1) }) ?? true {
            lastDescriptorWarning = now
            context.logger.warning(
                """
                accept: out of file descriptors (\(error == EMFILE ? "EMFILE" : "ENFILE")); pausing accepts for \
                100 ms. Raise the limit (LimitNOFILE / ulimit -n) or lower --max-connections
                """
            )
        }
    }

    private func resumeAcceptingIfDue() {
        guard let until = acceptPausedUntil, SystemClock.read() >= until else { return }
        acceptPausedUntil = nil
        guard listenFD >= 0 else { return }
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue
        ev.data.fd = listenFD
        epoll_ctl(epollFD, EPOLL_CTL_ADD, listenFD, &ev)
    }

    /// Why a new connection cannot be taken now, if it cannot.
    private func admissionRefusal() -> ProtocolError? {
        let config = context.configuration
        let stats = context.stats
        if stats.currentConnections.load(ordering: .relaxed) >= config.maximumConnections {
            return ProtocolError(
                .tooManyConnections,
                "the server has its maximum of \(config.maximumConnections) connections; try again later"
            )
        }
        if config.requiresAuthentication
            && stats.unauthenticatedConnections.load(ordering: .relaxed) >= config.maximumUnauthenticated
        {
            return ProtocolError(
                .tooManyConnections,
                "the server has its maximum of \(config.maximumUnauthenticated) connections waiting for a "
                    + "successful hello; try again later"
            )
        }
        return nil
    }

    private func adopt(_ fd: Int32) {
        guard shutdownDeadline == nil else {
            context.stats.currentConnections.subtract(1, ordering: .relaxed)
            close(fd)
            return
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let key = ConnectionKey(loop: index, fd: fd, serial: nextSerial)
        nextSerial &+= 1
        let config = context.configuration
        let machine = ConnectionStateMachine(limits: config.connectionLimits, now: config.clock.now)
        let connection = Connection(
            fd: fd,
            key: key,
            role: context.handler.authenticator.initialRole,
            machine: machine,
            maximumLineBytes: config.maximumLineBytes
        )
        connection.session.client = ClientIdentity.peer(PeerAddress.of(fd))
        if let tls = context.tls {
            do {
                connection.tls = try TLSSession(context: tls.current)
            } catch {
                context.logger.warning("TLS session could not be made: \(error)")
                context.stats.currentConnections.subtract(1, ordering: .relaxed)
                close(fd)
                return
            }
            connection.handshakeDeadline = config.clock.now + ServerConfiguration.tlsHandshakeTimeout
        }
        connections[fd] = connection
        if !connection.isAuthenticated {
            connection.countedUnauthenticated = true
            context.stats.unauthenticatedConnections.add(1, ordering: .relaxed)
        }
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
        ev.data.fd = fd
        if epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &ev) != 0 {
            context.logger.warning("epoll_ctl(add) failed: \(String(cString: strerror(errno)))")
            closeConnection(connection)
            return
        }
        armTimer(connection)
    }

    // MARK: Timers

    /// Arms the connection's timer when its state machine needs one earlier than the one armed.
    func armTimer(_ c: Connection) {
        var next = c.machine.nextDeadline(authenticated: c.isAuthenticated)
        if let handshake = c.handshakeDeadline { next = min(next ?? handshake, handshake) }
        guard let deadline = next else { return }
        if let armed = c.timerArmed, armed <= deadline { return }
        c.timerArmed = deadline
        timers.schedule(.connection(fd: c.fd, serial: c.session.key.serial), at: deadline)
    }

    private func fireTimers() {
        resumeAcceptingIfDue()
        if let deadline = shutdownDeadline, connections.isEmpty || SystemClock.read() >= deadline {
            running = false
            return
        }
        guard let earliest = timers.earliest else { return }
        let now = context.configuration.clock.now
        guard earliest <= now else { return }
        for timer in timers.due(now: now) {
            switch timer.kind {
            case .expiry(let resource):
                if let change = context.registry.expire(resource) {
                    context.handler.publisher.publish(change, waiter: nil)
                }
            case .probe:
                break  // only the HTTP loop schedules probes
            case .connection(let fd, let serial):
                guard let c = connections[fd], c.session.key.serial == serial, c.timerArmed == timer.at else {
                    continue
                }
                c.timerArmed = nil
                if let handshake = c.handshakeDeadline, now >= handshake {
                    context.logger.debug(
                        "closing a connection whose TLS handshake did not complete in time",
                        metadata: ["peer": "\(PeerAddress.text(of: c.fd))"]
                    )
                    closeConnection(c)
                    continue
                }
                switch c.machine.timerFired(now: now, authenticated: c.isAuthenticated) {
                case .none: break
                case .close: closeConnection(c)
                case .closeStalled:
                    context.stats.slowConsumerDisconnects.add(1, ordering: .relaxed)
                    context.logger.debug(
                        "closing a connection whose output made no progress",
                        metadata: [
                            "client": LogText.value(c.session.clientName), "pending_bytes": "\(c.pendingOutput)",
                        ]
                    )
                    closeConnection(c)
                case .closeWithError(let error):
                    Reply.error(id: nil, error, into: &c.output)
                    flush(c)
                }
                if c.isOpen { armTimer(c) }
            }
        }
    }

    // MARK: Shutdown

    private func beginShutdown() {
        if listenFD >= 0 {
            if acceptPausedUntil == nil { epoll_ctl(epollFD, EPOLL_CTL_DEL, listenFD, nil) }
            acceptPausedUntil = nil
            close(listenFD)
            listenFD = -1
        }
        shutdownDeadline = SystemClock.read() + context.configuration.shutdownGrace
        // Answer what is in flight: requests already in the socket buffers, then stop reading.
        for c in Array(connections.values) {
            if c.isOpen && c.machine.wantsToRead { readable(c) }
            guard c.isOpen else { continue }
            c.machine.shutdownBegun()
            if c.pendingOutput == 0 && !c.machine.isHeld {
                closeConnection(c)
            } else {
                updateInterest(c)
            }
        }
        if connections.isEmpty { running = false }
    }
}
