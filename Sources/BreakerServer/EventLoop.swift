import BreakerClock
import BreakerCore
import BreakerProtocol
import CBreakerSystem
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One thread running `epoll_wait` over its share of the connections. Each readiness event reads everything
/// available, answers every complete line, and sends the replies with one write.
///
/// Thread safety (`@unchecked Sendable`): every `var` here is read and written only on the loop's own thread.
/// Other threads use only `post(_:)`, which goes through the `inbox` mutex and the eventfd, and the immutable
/// descriptors.
final class EventLoop: @unchecked Sendable {
    enum Message: Sendable {
        case adopt(fd: Int32)
        case event(ConnectionKey, [UInt8])
        /// The durable writer committed (failure nil) or failed the change a held reply waits for.
        case committed(ConnectionKey, failure: String?)
        case shutdown
    }

    let index: Int
    private let epollFD: Int32
    private let wakeFD: Int32
    private let inbox = Mutex<[Message]>([])
    private var listenFD: Int32 = -1
    private var connections: [Int32: Connection] = [:]
    private var nextSerial: UInt64 = 1
    private var nextLoop = 0
    private var running = true
    private var shutdownDeadline: MonotonicInstant?
    private let readBuffer: UnsafeMutableRawBufferPointer
    private var lastHousekeeping: MonotonicInstant
    private var lastIdleScan: MonotonicInstant
    private var thread: pthread_t?

    // Set once by the server before the thread starts.
    var context: ServerContext!

    static let readChunk = 64 * 1_024
    /// Output past which the loop stops reading a connection's requests until its replies drain.
    static let backPressureBytes = 4 * 1_024 * 1_024

    init(index: Int, now: MonotonicInstant) throws(ServerError) {
        self.index = index
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { throw ServerError.system("epoll_create1", errno: errno) }
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard wakeFD >= 0 else { throw ServerError.system("eventfd", errno: errno) }
        readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readChunk, alignment: 16)
        lastHousekeeping = now
        lastIdleScan = now
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue
        ev.data.fd = wakeFD
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &ev) == 0 else {
            throw ServerError.system("epoll_ctl(eventfd)", errno: errno)
        }
    }

    deinit {
        readBuffer.deallocate()
        close(wakeFD)
        close(epollFD)
    }

    // MARK: Other threads

    /// Hands a message to the loop and wakes it.
    func post(_ message: Message) {
        let wasEmpty = inbox.withLock { box in
            let empty = box.isEmpty
            box.append(message)
            return empty
        }
        if wasEmpty {
            var one: UInt64 = 1
            _ = write(wakeFD, &one, 8)
        }
    }

    /// Starts the loop's thread.
    func start() throws(ServerError) {
        thread = try ServerThread.start(joinable: true) { self.run() }
    }

    /// Waits for the loop's thread to end.
    func join() {
        if let thread { pthread_join(thread, nil) }
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
        let timeoutMs = Int32(max(1, context.configuration.housekeepingInterval.millisecondsRoundedUp))
        while running {
            let n = epoll_wait(epollFD, events, Int32(capacity), timeoutMs)
            if n < 0 && errno != EINTR {
                context.logger.error("epoll_wait failed: \(String(cString: strerror(errno)))")
                break
            }
            for i in 0..<Int(max(n, 0)) {
                let fd = events[i].data.fd
                let flags = events[i].events
                if fd == wakeFD {
                    var value: UInt64 = 0
                    _ = read(wakeFD, &value, 8)
                    drainInbox()
                } else if fd == listenFD {
                    acceptAll()
                } else if let connection = connections[fd] {
                    if flags & (EPOLLIN.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue | EPOLLRDHUP.rawValue) != 0 {
                        readable(connection)
                    }
                    if flags & EPOLLOUT.rawValue != 0, connections[fd] === connection {
                        flush(connection)
                    }
                }
            }
            housekeeping()
        }
        for connection in Array(connections.values) { closeConnection(connection) }
    }

    private func drainInbox() {
        let messages = inbox.withLock { box -> [Message] in
            let taken = box
            box.removeAll(keepingCapacity: true)
            return taken
        }
        for message in messages {
            switch message {
            case .adopt(let fd): adopt(fd)
            case .event(let key, let line): deliver(line, to: key)
            case .committed(let key, let failure): committed(key, failure: failure)
            case .shutdown: beginShutdown()
            }
        }
    }

    // MARK: Accepting

    private func acceptAll() {
        while listenFD >= 0 {
            let fd = cbs_accept_nonblocking(listenFD)
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if errno == EMFILE || errno == ENFILE {
                    context.logger.warning("accept: out of file descriptors; raise the limit (LimitNOFILE / ulimit -n)")
                }
                return
            }
            let stats = context.stats
            if stats.currentConnections.load(ordering: .relaxed) >= context.configuration.maximumConnections {
                stats.rejectedConnections.add(1, ordering: .relaxed)
                var w = JSONWriter()
                Reply.error(
                    id: nil,
                    ProtocolError(
                        .tooManyConnections,
                        "the server has its maximum of \(context.configuration.maximumConnections) connections; try again later"),
                    into: &w)
                _ = w.bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                shutdown(fd, Int32(SHUT_WR))
                close(fd)
                continue
            }
            stats.currentConnections.add(1, ordering: .relaxed)
            stats.totalConnections.add(1, ordering: .relaxed)
            let loops = context.loops
            let target = loops[nextLoop % loops.count]
            nextLoop &+= 1
            if target === self { adopt(fd) } else { target.post(.adopt(fd: fd)) }
        }
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
        let connection = Connection(
            fd: fd, key: key, role: context.handler.authenticator.initialRole, now: context.configuration.clock.now,
            maximumLineBytes: context.configuration.maximumLineBytes)
        connections[fd] = connection
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
        ev.data.fd = fd
        if epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &ev) != 0 {
            context.logger.warning("epoll_ctl(add) failed: \(String(cString: strerror(errno)))")
            closeConnection(connection)
        }
    }

    // MARK: Reading

    private func readable(_ c: Connection) {
        while connections[c.fd] === c {
            let n = read(c.fd, readBuffer.baseAddress, readBuffer.count)
            if n > 0 {
                c.lastActivity = context.configuration.clock.now
                ingest(c, UnsafeRawBufferPointer(rebasing: readBuffer[0..<n]))
                if n < readBuffer.count || !c.wantsReadable || c.closeAfterFlush { break }
            } else if n == 0 {
                c.peerClosed = true
                if !c.discardingInput && !c.closeAfterFlush && c.heldRange == nil {
                    // A last line without its newline: answer it too, as a line.
                    if c.framer.finish({ handleLine(c, $0) }) == .lineTooLong { lineTooLong(c) }
                }
                break
            } else {
                if errno == EINTR { continue }
                if errno != EAGAIN && errno != EWOULDBLOCK { c.peerClosed = true; c.output.bytes.removeAll(); c.sent = 0 }
                break
            }
        }
        guard connections[c.fd] === c else { return }
        flush(c)
        if c.peerClosed, connections[c.fd] === c, c.wantsReadable {
            // Still sending the last replies: stop asking about a closed input, or epoll reports it forever.
            c.wantsReadable = false
            updateInterest(c)
        }
    }

    /// Splits `bytes` into lines and answers each complete one. `fresh` is false for a backlog being answered
    /// after a commit (its bytes were counted when they arrived).
    private func ingest(_ c: Connection, _ bytes: UnsafeRawBufferPointer, fresh: Bool = true) {
        if c.discardingInput || c.closeAfterFlush { return }
        if c.heldRange != nil {
            c.backlog.append(contentsOf: bytes)
            return
        }
        let limits = context.configuration
        if fresh && c.session.role == nil {
            c.unauthenticatedBytes += bytes.count
            if c.unauthenticatedBytes > limits.unauthenticatedByteLimit {
                Reply.error(
                    id: nil,
                    ProtocolError(
                        .unauthorized,
                        "more than \(limits.unauthenticatedByteLimit) bytes before a successful hello; closing"),
                    into: &c.output)
                c.closeAfterFlush = true
                return
            }
        }
        switch c.framer.feed(bytes, { handleLine(c, $0) }) {
        case .consumed:
            if c.isFirstLine && looksLikeHTTP(c.framer.partial) { abort(c) }
        case .stopped(let resumeAt):
            // A reply is held for a commit: the rest waits, in order.
            if connections[c.fd] === c && c.heldRange != nil && resumeAt < bytes.count {
                c.backlog.append(contentsOf: bytes[resumeAt...])
            }
        case .lineTooLong:
            lineTooLong(c)
        }
    }

    /// Answers one line; returns whether the framer may go on with the next one.
    private func handleLine(_ c: Connection, _ line: UnsafeRawBufferPointer) -> Bool {
        if c.isFirstLine {
            if looksLikeHTTP(line) {
                abort(c)
                return false
            }
            c.isFirstLine = false
        }
        let replyStart = c.output.bytes.count
        switch context.handler.handle(line: line, session: &c.session, out: &c.output) {
        case .keepOpen: break
        case .closeAfterReply: c.closeAfterFlush = true
        case .holdUntilCommit(let id):
            c.heldRange = replyStart..<c.output.bytes.count
            c.heldID = id
            if c.wantsReadable {
                c.wantsReadable = false
                updateInterest(c)
            }
            return false
        }
        if c.pendingOutput > Self.backPressureBytes && c.wantsReadable {
            c.wantsReadable = false
            updateInterest(c)
        }
        return !c.closeAfterFlush
    }

    private static let httpPrefixes: [[UInt8]] = [
        "GET ", "POST ", "PUT ", "HEAD ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE ", "PRI * HTTP",
        "Host:",
    ].map { Array($0.utf8) }

    private func looksLikeHTTP<C: Collection<UInt8>>(_ bytes: C) -> Bool {
        Self.httpPrefixes.contains { prefix in bytes.count >= prefix.count && bytes.starts(with: prefix) }
    }

    /// Closes at once, without a reply (for HTTP sent to the wrong port).
    private func abort(_ c: Connection) {
        context.logger.debug("closing a connection that spoke HTTP")
        c.output.bytes.removeAll()
        c.sent = 0
        closeConnection(c)
    }

    private func lineTooLong(_ c: Connection) {
        let limit = context.configuration.maximumLineBytes
        Reply.error(
            id: nil,
            ProtocolError(.lineTooLong, "a request line is longer than \(limit) bytes; the connection will be closed"),
            into: &c.output)
        c.discardingInput = true
        c.lingerUntil = SystemClock.read() + .seconds(2)
    }

    // MARK: Writing

    private func flush(_ c: Connection) {
        while c.sent < c.sendableEnd {
            let end = c.sendableEnd
            let n = c.output.bytes.withUnsafeBytes { buffer in
                send(c.fd, buffer.baseAddress! + c.sent, end - c.sent, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                c.sent += n
            } else if n < 0 && errno == EINTR {
                continue
            } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                if !c.wantsWritable {
                    c.wantsWritable = true
                    updateInterest(c)
                }
                return
            } else {
                closeConnection(c)
                return
            }
        }
        if c.heldRange != nil {
            // Everything before the held reply went out; the rest waits for the commit.
            if c.wantsWritable {
                c.wantsWritable = false
                updateInterest(c)
            }
            return
        }
        // Everything went out.
        if c.output.bytes.capacity > 1_048_576 {
            c.output.bytes = []
            c.output.bytes.reserveCapacity(4_096)
        } else {
            c.output.bytes.removeAll(keepingCapacity: true)
        }
        c.sent = 0
        var changed = false
        if c.wantsWritable {
            c.wantsWritable = false
            changed = true
        }
        if !c.wantsReadable && shutdownDeadline == nil {
            c.wantsReadable = true
            changed = true
        }
        if c.discardingInput && c.lingerUntil != nil && !c.peerClosed {
            shutdown(c.fd, Int32(SHUT_WR))
        }
        if c.closeAfterFlush || c.peerClosed || (shutdownDeadline != nil) {
            closeConnection(c)
            return
        }
        if changed { updateInterest(c) }
    }

    private func updateInterest(_ c: Connection) {
        var ev = epoll_event()
        ev.events = EPOLLRDHUP.rawValue
        if c.wantsReadable { ev.events |= EPOLLIN.rawValue }
        if c.wantsWritable { ev.events |= EPOLLOUT.rawValue }
        ev.data.fd = c.fd
        epoll_ctl(epollFD, EPOLL_CTL_MOD, c.fd, &ev)
    }

    private func deliver(_ line: [UInt8], to key: ConnectionKey) {
        guard let c = connections[key.fd], c.session.key == key, c.session.watching else { return }
        if c.pendingOutput + line.count > context.configuration.slowConsumerLimit {
            context.stats.slowConsumerDisconnects.add(1, ordering: .relaxed)
            context.logger.warning(
                "disconnecting a watcher that does not read",
                metadata: ["client": "\(c.session.clientName ?? "-")", "pending_bytes": "\(c.pendingOutput)"])
            closeConnection(c)
            return
        }
        c.output.bytes.append(contentsOf: line)
        flush(c)
    }

    /// A held reply's change was committed (or failed): send it, then answer what arrived meanwhile.
    private func committed(_ key: ConnectionKey, failure: String?) {
        guard let c = connections[key.fd], c.session.key == key, let range = c.heldRange else { return }
        if let failure {
            var error = JSONWriter()
            Reply.error(id: c.heldID, ProtocolError(.internalError, failure), into: &error)
            c.output.bytes.replaceSubrange(range, with: error.bytes)
        }
        c.heldRange = nil
        c.heldID = nil
        if !c.backlog.isEmpty {
            let backlog = c.backlog
            c.backlog = []
            backlog.withUnsafeBytes { ingest(c, $0, fresh: false) }
        }
        guard connections[c.fd] === c else { return }
        if c.heldRange == nil && !c.wantsReadable && shutdownDeadline == nil && !c.peerClosed
            && c.pendingOutput <= Self.backPressureBytes
        {
            c.wantsReadable = true
            updateInterest(c)
        }
        flush(c)
    }

    private func closeConnection(_ c: Connection) {
        guard connections[c.fd] === c else { return }
        connections.removeValue(forKey: c.fd)
        epoll_ctl(epollFD, EPOLL_CTL_DEL, c.fd, nil)
        close(c.fd)
        if c.session.watching { context.hub.unwatch(c.session.key) }
        context.stats.currentConnections.subtract(1, ordering: .relaxed)
    }

    // MARK: Time

    private func housekeeping() {
        let config = context.configuration
        let now = config.clock.now
        guard now - lastHousekeeping >= config.housekeepingInterval || shutdownDeadline != nil
            || now < lastHousekeeping
        else { return }
        lastHousekeeping = now
        if index == 0 {
            for resource in context.expiries.due(now: now) { context.registry.expire(resource) }
        }
        if let deadline = shutdownDeadline {
            if connections.isEmpty || SystemClock.read() >= deadline { running = false }
            return
        }
        guard now - lastIdleScan >= .milliseconds(500) || now < lastIdleScan else { return }
        lastIdleScan = now
        let realNow = SystemClock.read()
        for c in Array(connections.values) {
            if let until = c.lingerUntil, realNow >= until {
                closeConnection(c)
            } else if c.session.role == nil, now - c.lastActivity >= config.unauthenticatedIdleTimeout {
                Reply.error(
                    id: nil, ProtocolError(.unauthorized, "no successful hello within the idle limit; closing"),
                    into: &c.output)
                c.closeAfterFlush = true
                flush(c)
            }
        }
    }

    private func beginShutdown() {
        if listenFD >= 0 {
            epoll_ctl(epollFD, EPOLL_CTL_DEL, listenFD, nil)
            close(listenFD)
            listenFD = -1
        }
        shutdownDeadline = SystemClock.read() + context.configuration.shutdownGrace
        // Answer what is in flight: requests already in the socket buffers, then stop reading.
        for c in Array(connections.values) {
            if connections[c.fd] === c && !c.discardingInput { readable(c) }
            guard connections[c.fd] === c else { continue }
            c.wantsReadable = false
            if c.pendingOutput == 0 {
                closeConnection(c)
            } else {
                c.closeAfterFlush = true
                updateInterest(c)
            }
        }
        if connections.isEmpty { running = false }
    }
}
