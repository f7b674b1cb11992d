import BreakerClock
import BreakerCore
import BreakerProtocol
import BreakerTLS
import CBreakerSystem
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The HTTP port (`--http-listen`): metrics, health, the dashboard, its JSON API and its event stream, on a
/// thread and epoll set of its own. The protocol's event loops never see an HTTP connection, so nothing is added
/// to the `acquire`/`report` path, and a scrape that walks 100k breakers delays no request of the TCP port.
///
/// Requests are answered one at a time per connection, in order (keep-alive and pipelining work). API requests
/// are turned into protocol requests and answered by the same `RequestHandler` as the TCP port (the same
/// roles, errors, audit log and counters); an action's response waits for its commit, as on the TCP port.
///
/// Thread safety (`@unchecked Sendable`): every `var` is read and written only on the loop's own thread; other
/// threads reach it through its `Mailbox`.
final class HTTPLoop: @unchecked Sendable {
    /// Pending output past which a connection's next requests wait (responses are not read faster than sent).
    static let backPressureBytes = 1 << 20
    /// Pending output past which an event stream's reader is too slow and is disconnected (some 1,300 events).
    static let streamBufferBytes = 256 << 10
    /// Output waiting in all HTTP connections together past which new requests get a short 503 and event
    /// streams are dropped, in bytes: with the per-connection limits it bounds the port's memory.
    static let outputBudget = 64 << 20
    /// How long an event stream may stay silent before a keep-alive comment.
    static let streamKeepAlive = Duration.seconds(15)
    /// How long output may wait without a byte going out before the connection is closed.
    static let outputStall = Duration.seconds(30)
    /// How long a closing connection's input is drained before it is closed.
    static let linger = Duration.seconds(2)
    /// How long the event loops have to answer a `/healthz` probe.
    static let probeTimeout = Duration.seconds(2)

    /// The loop index in this loop's connection keys (after the event loops').
    let index: Int
    let context: ServerContext
    let mailbox: Mailbox
    let epollFD: Int32
    let parser = HTTPRequestParser()
    var listenFD: Int32 = -1
    var connections: [Int32: HTTPConnection] = [:]
    var timers = LoopTimers()
    private var nextSerial: UInt64 = 1
    private var running = true
    private(set) var shutdownDeadline: MonotonicInstant?
    private var thread: pthread_t?
    let readBuffer: UnsafeMutableRawBufferPointer
    /// Where TLS connections' decrypted bytes go.
    let plainBuffer: UnsafeMutableRawBufferPointer
    /// The `/healthz` probe in flight: the loops that have not answered, and who waits.
    var probe: (sequence: UInt64, waiting: Set<Int>, requesters: [ConnectionKey])?
    /// Output waiting to be sent in all connections, in bytes (see `outputBudget`).
    var pendingBytes = 0
    /// True when the port listens on a loopback address (see `HTTPRouter`'s Host check).
    private(set) var listensOnLoopback = true
    /// Set after `accept` ran out of descriptors: accepting resumes then (real time).
    private var acceptPausedUntil: MonotonicInstant?
    var probeSequence: UInt64 = 0

    init(context: ServerContext) throws(ServerError) {
        self.index = context.mailboxes.count
        self.context = context
        self.mailbox = context.httpMailbox
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { throw ServerError.system("epoll_create1", errno: errno) }
        readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1_024, alignment: 16)
        plainBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1_024, alignment: 16)
        try register(mailbox.wakeFD)
    }

    deinit {
        readBuffer.deallocate()
        plainBuffer.deallocate()
        close(epollFD)
    }

    private func register(_ fd: Int32) throws(ServerError) {
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue
        ev.data.fd = fd
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &ev) == 0 else {
            throw ServerError.system("epoll_ctl(http)", errno: errno)
        }
    }

    /// Binds `address` (nothing runs yet). Returns the address bound (the real port).
    func bind(_ address: ListenAddress) throws(ServerError) -> ListenAddress {
        let (fd, bound) = try Listener.open(address)
        do {
            try register(fd)
        } catch {
            close(fd)
            throw error
        }
        listenFD = fd
        listensOnLoopback = address.isLoopback
        return bound
    }

    /// Starts the loop's thread.
    func start() throws(ServerError) {
        thread = try ServerThread.start(joinable: true) { self.run() }
    }

    /// Waits for the loop's thread to end (after a `.shutdown` message).
    func join() {
        if let thread { pthread_join(thread, nil) }
    }

    private func run() {
        let capacity = 64
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
        defer { events.deallocate() }
        while running {
            let n = epoll_wait(epollFD, events, Int32(capacity), waitMilliseconds())
            if n < 0 && errno != EINTR {
                context.logger.error("HTTP loop: epoll_wait failed: \(String(cString: strerror(errno)))")
                break
            }
            for i in 0..<Int(max(n, 0)) {
                let fd = events[i].data.fd
                let flags = events[i].events
                if fd == mailbox.wakeFD {
                    drainInbox()
                } else if fd == listenFD {
                    acceptAll()
                } else if let c = connections[fd] {
                    if flags & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 && !c.wantsToRead {
                        // The peer is gone while its answer is being prepared (or sent): nobody will read it.
                        closeConnection(c)
                        continue
                    }
                    if flags & (EPOLLIN.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue | EPOLLRDHUP.rawValue) != 0 {
                        readable(c)
                    }
                    if flags & EPOLLOUT.rawValue != 0, c.isOpen { flush(c) }
                }
            }
            fireTimers()
        }
        for c in Array(connections.values) { closeConnection(c) }
    }

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
            case .event(let key, let line): deliver(line, to: key)
            case .committed(let key, let failure): committed(key, failure: failure)
            case .probeAnswered(let loop, let sequence): probeAnswered(loop: loop, sequence: sequence)
            case .shutdown: beginShutdown()
            case .adopt(let fd): close(fd)
            case .probe, .scheduleExpiry: break
            }
        }
    }

    // MARK: Accepting

    private func acceptAll() {
        while listenFD >= 0 {
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = cbs_accept_nonblocking_from(listenFD, &address, &length)
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if errno == EMFILE || errno == ENFILE {
                    // A level-triggered listener would wake the loop at once, for ever: stop watching it for 100 ms.
                    acceptPausedUntil = SystemClock.read() + .milliseconds(100)
                    epoll_ctl(epollFD, EPOLL_CTL_DEL, listenFD, nil)
                }
                return
            }
            if connections.count >= context.configuration.httpMaximumConnections, let idle = oldestIdle() {
                // Full: the connection idle the longest makes room (a probe must not find the port full of
                // connections that send nothing).
                closeConnection(idle)
            }
            if connections.count >= context.configuration.httpMaximumConnections {
                var out: [UInt8] = []
                HTTPResponse.text(
                    .serviceUnavailable,
                    "the HTTP port has its maximum of \(context.configuration.httpMaximumConnections) connections; "
                        + "try again later"
                )
                .write(into: &out, keepAlive: false, head: false)
                _ = out.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                shutdown(fd, Int32(SHUT_WR))
                close(fd)
                continue
            }
            adopt(fd, peer: PeerAddress(address)?.description ?? "unknown")
        }
    }

    /// The reading connection with nothing received and nothing to send that has been idle the longest.
    private func oldestIdle() -> HTTPConnection? {
        var oldest: HTTPConnection?
        for c in connections.values {
            guard case .reading = c.phase, c.hasNoInput, c.pendingOutput == 0 else { continue }
            if oldest.map({ c.idleSince < $0.idleSince }) ?? true { oldest = c }
        }
        return oldest
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

    private func adopt(_ fd: Int32, peer: String) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let key = ConnectionKey(loop: index, fd: fd, serial: nextSerial)
        nextSerial &+= 1
        let c = HTTPConnection(
            fd: fd,
            key: key,
            peer: peer,
            role: nil,
            now: context.configuration.clock.now
        )
        if let tls = context.tls {
            do {
                c.tls = try TLSSession(context: tls.current)
            } catch {
                context.logger.warning("HTTP port: TLS session could not be made: \(error)")
                close(fd)
                return
            }
        }
        connections[fd] = c
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
        ev.data.fd = fd
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &ev) == 0 else {
            closeConnection(c)
            return
        }
        armTimer(c)
    }

    // MARK: Timers

    /// The connection's next deadline, if it has one.
    func deadline(_ c: HTTPConnection) -> MonotonicInstant? {
        let config = context.configuration
        var due: MonotonicInstant?
        switch c.phase {
        case .reading:
            due = c.requestStartedAt.map { $0 + config.httpRequestTimeout }
            if c.hasNoInput && c.pendingOutput == 0 {
                // A connection that never sent a request gets as long as a request may take, not the idle time.
                due = c.idleSince + (c.answered == 0 ? config.httpRequestTimeout : config.httpIdleTimeout)
            }
        case .streaming: due = c.lastStreamWrite + Self.streamKeepAlive
        case .lingering(let until): due = until
        case .held, .probing, .closing: due = nil
        }
        if let blocked = c.outputBlockedSince {
            let stall = blocked + Self.outputStall
            due = due.map { min($0, stall) } ?? stall
        }
        return due
    }

    func armTimer(_ c: HTTPConnection) {
        guard let due = deadline(c) else { return }
        if let armed = c.timerArmed, armed <= due { return }
        c.timerArmed = due
        timers.schedule(.connection(fd: c.fd, serial: c.key.serial), at: due)
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
            case .probe(let sequence): probeTimedOut(sequence)
            case .connection(let fd, let serial):
                guard let c = connections[fd], c.key.serial == serial, c.timerArmed == timer.at else { continue }
                c.timerArmed = nil
                deadlinePassed(c, now: now)
                if c.isOpen { armTimer(c) }
            }
        }
    }

    /// Whatever deadline of `c` passed: close an idle or stalled connection, answer a slow request with 408,
    /// or send a stream's keep-alive comment.
    private func deadlinePassed(_ c: HTTPConnection, now: MonotonicInstant) {
        if let blocked = c.outputBlockedSince, now >= blocked + Self.outputStall {
            context.stats.slowConsumerDisconnects.add(1, ordering: .relaxed)
            closeConnection(c)
            return
        }
        switch c.phase {
        case .reading:
            if let started = c.requestStartedAt, now >= started + context.configuration.httpRequestTimeout {
                c.inbound = []
                c.inboundStart = 0
                c.requestStartedAt = nil
                respond(
                    c,
                    .text(.requestTimeout, "the request did not arrive in time; send it whole, then wait"),
                    Exchange(keepAlive: false, head: false, json: false)
                )
                flush(c)
            } else if c.hasNoInput, c.pendingOutput == 0,
                now >= c.idleSince
                    + (c.answered == 0
                        ? context.configuration.httpRequestTimeout : context.configuration.httpIdleTimeout)
            {
                closeConnection(c)
            }
        case .streaming:
            if now >= c.lastStreamWrite + Self.streamKeepAlive {
                c.output.append(contentsOf: ": keep-alive\n\n".utf8)
                pendingBytes += 15
                c.lastStreamWrite = now
                flush(c)
            }
        case .lingering(let until):
            if now >= until { closeConnection(c) }
        case .held, .probing, .closing:
            break
        }
    }

    // MARK: Shutdown

    private func beginShutdown() {
        if listenFD >= 0 {
            epoll_ctl(epollFD, EPOLL_CTL_DEL, listenFD, nil)
            close(listenFD)
            listenFD = -1
        }
        shutdownDeadline = SystemClock.read() + context.configuration.shutdownGrace
        for c in Array(connections.values) {
            switch c.phase {
            case .streaming, .lingering: closeConnection(c)
            case .reading where c.pendingOutput == 0: closeConnection(c)
            case .reading, .held, .probing, .closing: break
            }
        }
        if connections.isEmpty { running = false }
    }
}

typealias Exchange = HTTPConnection.Exchange

extension HTTPLoop {
    /// Why the server is not ready (`/readyz` 503), or nil when it is: the database was restored (it is before
    /// the HTTP port opens) and its most recent write succeeded; a cluster replica: it reaches etcd and, when it
    /// leads, has loaded the breakers.
    func readiness() -> String? {
        if shutdownDeadline != nil { return "shutting down" }
        if let gate = context.gate {
            // A cluster replica is ready when it leads, or follows while it reaches etcd.
            let details = gate.snapshot
            if let problem = details.etcdProblem {
                return "this replica cannot reach etcd (\(problem)); it answers not_leader and keeps retrying"
            }
            if details.role == "leader (loading)" { return "the new leader is loading the breakers from etcd" }
            // Otherwise ready: the leader, or a follower that reaches etcd. A write to etcd that failed is either
            // etcd out of reach (the cluster thread sees it too, above) or a lost leadership (then this replica
            // follows), so an old failure does not keep a replica out of its Service.
            return nil
        }
        if let failure = context.handler.persistenceStats().lastWriteFailure {
            return "the last database write failed (\(failure)); changes get an error until a write succeeds: "
                + "check the disk's free space and the file's permissions"
        }
        return nil
    }
}
