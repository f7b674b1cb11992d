import BreakerCore
import BreakerProtocol
import BreakerTLS
import CBreakerSystem
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Reading, answering and writing one connection: each step asks the connection's state machine what to do.
extension EventLoop {
    // MARK: Reading

    func readable(_ c: Connection) {
        while c.isOpen {
            let n = read(c.fd, readBuffer.baseAddress, readBuffer.count)
            if n > 0 {
                let chunk = UnsafeRawBufferPointer(rebasing: readBuffer[0..<n])
                if let tls = c.tls {
                    tls.receive(chunk)
                    guard decrypt(c, tls) else { break }
                } else {
                    received(c, chunk)
                }
                if n < readBuffer.count || !c.machine.wantsToRead { break }
            } else if n == 0 {
                peerClosed(c)
                break
            } else {
                if errno == EINTR { continue }
                if errno != EAGAIN && errno != EWOULDBLOCK {
                    closeConnection(c)
                    return
                }
                break
            }
        }
        guard c.isOpen else { return }
        flush(c)
    }

    /// Request bytes (plain text) as they arrived.
    private func received(_ c: Connection, _ chunk: UnsafeRawBufferPointer) {
        switch c.machine.received() {
        case .frame: frame(c, chunk)
        case .keepForLater: c.backlog.append(contentsOf: chunk)
        case .drop: break
        }
    }

    /// The peer closed its side (or its TLS session).
    private func peerClosed(_ c: Connection) {
        if c.machine.peerClosedInput() {
            // A last line without its newline: answer it too, as a line.
            if c.framer.finish({ answer(c, $0) }) == .lineTooLong { lineTooLong(c) }
        }
    }

    /// Decrypts what `tls` has received and handles the plain text; false when the peer closed its TLS session
    /// or the session failed (then the connection is closed, after the alert that says why is sent).
    private func decrypt(_ c: Connection, _ tls: TLSSession) -> Bool {
        let wasEstablished = tls.isEstablished
        while c.isOpen {
            switch tls.read(into: plainBuffer) {
            case .bytes(let n):
                if !wasEstablished { tlsEstablished(c, tls) }
                received(c, UnsafeRawBufferPointer(rebasing: plainBuffer[0..<n]))
            case .needMore:
                if !wasEstablished && tls.isEstablished { tlsEstablished(c, tls) }
                return true
            case .closed:
                peerClosed(c)
                return false
            case .failed(let error):
                context.logger.debug(
                    "TLS failed; closing the connection",
                    metadata: ["error": "\(error)", "peer": "\(PeerAddress.text(of: c.fd))"]
                )
                // The alert that says why (not when records wait unsent: it would land inside one).
                if c.cipherSent == c.cipher.count { tls.sendOnce(to: c.fd) }
                closeConnection(c)
                return false
            }
        }
        return false
    }

    /// The handshake completed: a verified client certificate names the connection (until `hello` names it).
    private func tlsEstablished(_ c: Connection, _ tls: TLSSession) {
        guard c.handshakeDeadline != nil else { return }
        c.handshakeDeadline = nil
        if c.session.clientName == nil, let name = tls.peerCommonName {
            c.session.clientName = name
            c.session.client = ClientIdentity.hash(name)
        }
    }

    /// Splits `bytes` into lines and answers each complete one, until the machine says stop.
    func frame(_ c: Connection, _ bytes: UnsafeRawBufferPointer) {
        switch c.framer.feed(bytes, { answer(c, $0) }) {
        case .consumed:
            guard !c.framer.partial.isEmpty else { break }
            switch c.machine.partialLine(c.framer.partial, authenticated: c.isAuthenticated) {
            case .abort: abort(c)
            case .refuse(let error): refuse(c, error)
            case .next, .stop: break
            }
        case .stopped(let resumeAt):
            // A reply is held for a commit, or too much output waits: the rest waits, in order. (Closing: it is
            // dropped.)
            if c.isOpen && (c.machine.isHeld || c.machine.backPressured) && resumeAt < bytes.count {
                c.backlog.append(contentsOf: bytes[resumeAt...])
            }
        case .lineTooLong:
            lineTooLong(c)
        }
    }

    /// Answers one line; returns whether the framer may go on with the next one.
    private func answer(_ c: Connection, _ line: UnsafeRawBufferPointer) -> Bool {
        switch c.machine.lineArrived(line, authenticated: c.isAuthenticated) {
        case .next: break
        case .stop: return false
        case .abort:
            abort(c)
            return false
        case .refuse(let error):
            refuse(c, error)
            return false
        }
        let result = context.handler.handle(line: line, session: &c.session, out: &c.output)
        if let expiry = result.expiry { timers.schedule(.expiry(resource: expiry.resource), at: expiry.at) }
        if c.countedUnauthenticated && c.isAuthenticated {
            c.countedUnauthenticated = false
            context.stats.unauthenticatedConnections.subtract(1, ordering: .relaxed)
        }
        if case .next = c.machine.answered(result.disposition, pendingOutput: c.pendingOutput) { return true }
        return false
    }

    /// Closes at once, without a reply (for HTTP sent to the wrong port).
    private func abort(_ c: Connection) {
        context.logger.debug("closing a connection that spoke HTTP")
        c.output.bytes.removeAll()
        c.sent = 0
        closeConnection(c)
    }

    /// Answers with an error the state machine decided on before any request was read (counted as such).
    private func refuse(_ c: Connection, _ error: ProtocolError) {
        context.stats.count(nil, error: error.code, loop: index)
        Reply.error(id: nil, error, into: &c.output)
    }

    private func lineTooLong(_ c: Connection) {
        let limit = context.configuration.maximumLineBytes
        let error = c.machine.lineTooLong(maximumLineBytes: limit, now: context.configuration.clock.now)
        refuse(c, error)
        armTimer(c)
    }

    // MARK: Writing

    /// Sends what is pending; then carries out what the machine wants once everything went out, and keeps the
    /// epoll interest in line with it.
    func flush(_ c: Connection) {
        while true {
            guard c.tls == nil ? sendPlain(c) : sendEncrypted(c) else { return }
            // Everything went out.
            if c.output.bytes.capacity > 1_048_576 {
                c.output.bytes = []
                c.output.bytes.reserveCapacity(4_096)
            } else {
                c.output.bytes.removeAll(keepingCapacity: true)
            }
            c.sent = 0
            if c.accountedWatchBytes != 0 { accountWatcher(c) }
            switch c.machine.outputDrained(unansweredInput: !c.backlog.isEmpty || !c.framer.partial.isEmpty) {
            case .none: break
            case .shutdownWrite:
                if let tls = c.tls {
                    // A close_notify first, so the peer knows the replies are complete.
                    tls.close()
                    tls.sendOnce(to: c.fd)
                }
                shutdown(c.fd, Int32(SHUT_WR))
            case .close:
                closeConnection(c)
                return
            }
            // Requests that waited for the output to drain are answered now (then sent, in the next round).
            guard c.machine.canProcess, !c.backlog.isEmpty || c.machine.peerClosed && !c.framer.partial.isEmpty
            else { break }
            resumeBacklog(c)
            guard c.isOpen else { return }
        }
        updateInterest(c, writable: false)
    }

    /// Sends the pending output; true when all of it went out, false when the socket is full (write interest
    /// registered) or the connection was closed.
    private func sendPlain(_ c: Connection) -> Bool {
        while c.sent < c.output.bytes.count {
            let end = c.output.bytes.count
            let n = c.output.bytes.withUnsafeBytes { buffer in
                send(c.fd, buffer.baseAddress! + c.sent, end - c.sent, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                c.sent += n
                c.machine.outputProgressed()
            } else if n < 0 && errno == EINTR {
                continue
            } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                outputBlocked(c)
                return false
            } else {
                closeConnection(c)
                return false
            }
        }
        return true
    }

    /// Encrypts the pending output (once the handshake is done; before, there is none but the handshake's own)
    /// and sends the records; as `sendPlain`.
    private func sendEncrypted(_ c: Connection) -> Bool {
        guard let tls = c.tls else { return true }
        if c.sent < c.output.bytes.count {
            if tls.isEstablished {
                let error = c.output.bytes.withUnsafeBytes {
                    tls.write(UnsafeRawBufferPointer(rebasing: $0[c.sent...]))
                }
                if error != nil {
                    closeConnection(c)
                    return false
                }
            }
            c.sent = c.output.bytes.count
        }
        if c.cipherSent < c.cipher.count {
            // Records wait already: the new ones go behind them.
            tls.takeOutput(appendingTo: &c.cipher)
            return sendBacklog(c)
        }
        // The records go out straight from the session's buffer; what the socket does not take moves to the
        // connection's (once: the session's buffer is empty again, and a slow reader costs no copy per wake-up).
        var sent = 0
        let taken = tls.sendOutput { records in
            let n = send(c.fd, records.baseAddress, records.count, Int32(MSG_NOSIGNAL))
            if n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK { return -1 }
            sent = max(n, 0)
            if sent < records.count { c.cipher.append(contentsOf: UnsafeRawBufferPointer(rebasing: records[sent...])) }
            return records.count
        }
        if taken < 0 {
            closeConnection(c)
            return false
        }
        if sent > 0 { c.machine.outputProgressed() }
        return c.cipher.isEmpty || sendBacklog(c)
    }

    /// Sends the records that wait in `c.cipher`; as `sendPlain`.
    private func sendBacklog(_ c: Connection) -> Bool {
        while c.cipherSent < c.cipher.count {
            let end = c.cipher.count
            let n = c.cipher.withUnsafeBytes {
                send(c.fd, $0.baseAddress! + c.cipherSent, end - c.cipherSent, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                c.cipherSent += n
                c.machine.outputProgressed()
            } else if n < 0 && errno == EINTR {
                continue
            } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                outputBlocked(c)
                return false
            } else {
                closeConnection(c)
                return false
            }
        }
        c.cipher.removeAll(keepingCapacity: c.cipher.capacity <= 1_048_576)
        c.cipherSent = 0
        return true
    }

    /// The socket took no more: wait for it to be writable, and start the stall clock.
    private func outputBlocked(_ c: Connection) {
        // What went out stays at the front of the buffers until all of it has: a peer that reads about as fast
        // as events arrive may never let them empty, so the part sent goes once it is most of a buffer (each
        // byte is moved at most once on average).
        if c.sent >= 65_536 && c.sent * 2 >= c.output.bytes.count {
            c.output.bytes.removeFirst(c.sent)
            c.sent = 0
        }
        if c.cipherSent >= 65_536 && c.cipherSent * 2 >= c.cipher.count {
            c.cipher.removeFirst(c.cipherSent)
            c.cipherSent = 0
        }
        if c.session.receivesEvents || c.accountedWatchBytes != 0 { accountWatcher(c) }
        c.machine.outputBlocked(now: context.configuration.clock.now)
        armTimer(c)
        updateInterest(c, writable: true)
    }

    /// Answers the input kept while a reply was held or the output was too large, and then, if the peer has
    /// closed, its last line without a newline.
    func resumeBacklog(_ c: Connection) {
        if !c.backlog.isEmpty {
            let backlog = c.backlog
            c.backlog = []
            backlog.withUnsafeBytes { frame(c, $0) }
        }
        guard c.isOpen, c.backlog.isEmpty, c.machine.peerClosed, c.machine.canProcess else { return }
        if c.framer.finish({ answer(c, $0) }) == .lineTooLong { lineTooLong(c) }
    }

    /// Registers the interest the machine wants (reading) and the socket needs (writing), when it changed. Once
    /// the peer has closed its side, the hang-up is not asked about again: epoll would report it at once, for
    /// ever, while the last replies wait to be sent.
    func updateInterest(_ c: Connection, writable: Bool? = nil) {
        let read = c.machine.wantsToRead
        let write = writable ?? c.writeRegistered
        let hangup = !c.machine.peerClosed
        guard read != c.readRegistered || write != c.writeRegistered || hangup != c.hangupRegistered else { return }
        c.readRegistered = read
        c.writeRegistered = write
        c.hangupRegistered = hangup
        var ev = epoll_event()
        ev.events = hangup ? EPOLLRDHUP.rawValue : 0
        if read { ev.events |= EPOLLIN.rawValue }
        if write { ev.events |= EPOLLOUT.rawValue }
        ev.data.fd = c.fd
        epoll_ctl(epollFD, EPOLL_CTL_MOD, c.fd, &ev)
    }

    /// An event line for a watcher or lease holder on this loop.
    func deliver(_ line: [UInt8], to key: ConnectionKey) {
        guard let c = connections[key.fd], c.session.key == key, c.session.receivesEvents else { return }
        switch c.machine.eventArrived(line.count, pendingOutput: c.pendingOutput) {
        case .send:
            c.output.bytes.append(contentsOf: line)
            flush(c)
        case .wait:
            c.deferredEvents.append(contentsOf: line)
            accountWatcher(c)
        case .drop:
            return
        case .disconnectSlowConsumer:
            disconnectSlowWatcher(c, why: "disconnecting a watcher that does not read")
            return
        }
        if context.stats.watcherPendingBytes.load(ordering: .relaxed) > context.configuration.maximumWatchBuffer {
            // Past the total for all watchers: the one of this loop with the most waiting goes.
            // Only a watcher with a real backlog goes: a loop whose own watchers keep up disconnects nobody.
            let largest = connections.values.filter { $0.session.receivesEvents }.max {
                $0.pendingOutput < $1.pendingOutput
            }
            if let largest, largest.pendingOutput >= context.configuration.slowConsumerLimit / 8 {
                disconnectSlowWatcher(
                    largest,
                    why: "disconnecting the watcher with the most output waiting: "
                        + "all watchers together are past --max-watch-buffer"
                )
            }
        }
    }

    private func disconnectSlowWatcher(_ c: Connection, why: String) {
        context.stats.slowConsumerDisconnects.add(1, ordering: .relaxed)
        context.logger.warning(
            "\(why)",
            metadata: ["client": LogText.value(c.session.clientName), "pending_bytes": "\(c.pendingOutput)"]
        )
        closeConnection(c)
    }

    /// Keeps this watcher's share of the output waiting for all watchers up to date.
    func accountWatcher(_ c: Connection) {
        let pending = c.session.receivesEvents ? c.pendingOutput : 0
        let delta = pending - c.accountedWatchBytes
        guard delta != 0 else { return }
        c.accountedWatchBytes = pending
        context.stats.watcherPendingBytes.add(delta, ordering: .relaxed)
    }

    /// A held reply's change was committed (or failed): write the reply, the events that waited behind it,
    /// then answer what arrived meanwhile.
    func committed(_ key: ConnectionKey, failure: ProtocolError?) {
        guard let c = connections[key.fd], c.session.key == key else { return }
        guard case .release(let reply, let failure) = c.machine.commitCompleted(failure: failure) else { return }
        reply.write(committed: failure, into: &c.output)
        if !c.deferredEvents.isEmpty {
            c.output.bytes.append(contentsOf: c.deferredEvents)
            c.deferredEvents = []
        }
        resumeBacklog(c)
        guard c.isOpen else { return }
        flush(c)
    }

    func closeConnection(_ c: Connection) {
        guard c.isOpen else { return }
        c.machine.closed()
        c.isOpen = false
        connections.removeValue(forKey: c.fd)
        epoll_ctl(epollFD, EPOLL_CTL_DEL, c.fd, nil)
        close(c.fd)
        if c.session.receivesEvents { context.hub.connectionClosed(c.session.key) }
        if c.countedUnauthenticated { context.stats.unauthenticatedConnections.subtract(1, ordering: .relaxed) }
        if c.accountedWatchBytes != 0 {
            context.stats.watcherPendingBytes.subtract(c.accountedWatchBytes, ordering: .relaxed)
            c.accountedWatchBytes = 0
        }
        context.stats.currentConnections.subtract(1, ordering: .relaxed)
    }
}
