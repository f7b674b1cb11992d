import BreakerClock
import BreakerCore
import BreakerProtocol
import BreakerTLS
import CBreakerSystem

#if canImport(Glibc)
import Glibc
#endif

/// Reading requests, answering them through the router, and writing responses and events.
extension HTTPLoop {
    // MARK: Reading

    func readable(_ c: HTTPConnection) {
        while c.isOpen && c.wantsToRead {
            let n = read(c.fd, readBuffer.baseAddress, readBuffer.count)
            if n > 0 {
                let chunk = UnsafeRawBufferPointer(rebasing: readBuffer[0..<n])
                if let tls = c.tls {
                    tls.receive(chunk)
                    guard decrypt(c, tls) else { return }
                } else {
                    received(c, chunk)
                }
                if n < readBuffer.count { break }
            } else if n == 0 {
                guard peerClosed(c) else { return }
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
    private func received(_ c: HTTPConnection, _ chunk: UnsafeRawBufferPointer) {
        switch c.phase {
        case .reading:
            c.inbound.append(contentsOf: chunk)
            process(c)
        case .streaming, .lingering, .held, .probing, .closing:
            break  // a stream's peer sends nothing we read; a closing one's input is dropped
        }
    }

    /// The peer closed its side: nothing more will arrive; whatever is being answered is still sent. False when
    /// the connection was closed.
    private func peerClosed(_ c: HTTPConnection) -> Bool {
        switch c.phase {
        case .reading where c.pendingOutput == 0, .streaming, .lingering:
            closeConnection(c)
            return false
        case .reading:
            c.inbound = []
            c.inboundStart = 0
            c.phase = .closing
        case .held, .probing, .closing:
            break
        }
        return true
    }

    /// Decrypts what `tls` has received and handles the plain text; false when the connection was closed (its
    /// TLS failed: the alert that says why goes out first).
    private func decrypt(_ c: HTTPConnection, _ tls: TLSSession) -> Bool {
        while c.isOpen {
            switch tls.read(into: plainBuffer) {
            case .bytes(let n):
                received(c, UnsafeRawBufferPointer(rebasing: plainBuffer[0..<n]))
            case .needMore:
                return true
            case .closed:
                return peerClosed(c)
            case .failed(let error):
                context.logger.debug(
                    "HTTP port: TLS failed; closing the connection",
                    metadata: ["error": "\(error)", "peer": "\(c.peer)"]
                )
                // The alert that says why (not when records wait unsent: it would land inside one).
                if c.sent >= c.encrypted { tls.sendOnce(to: c.fd) }
                closeConnection(c)
                return false
            }
        }
        return false
    }

    /// Parses and answers the requests received, one at a time, while the connection is free to.
    func process(_ c: HTTPConnection) {
        defer {
            // Parsed requests leave the buffer once per pass, not once per request.
            if c.inboundStart > 0 {
                c.inbound.removeFirst(c.inboundStart)
                c.inboundStart = 0
            }
        }
        while c.isOpen, case .reading = c.phase, !c.hasNoInput, c.pendingOutput < Self.backPressureBytes {
            let outcome = c.inbound.withUnsafeBytes {
                parser.parse(UnsafeRawBufferPointer(rebasing: $0[c.inboundStart...]))
            }
            switch outcome {
            case .incomplete:
                if c.requestStartedAt == nil { c.requestStartedAt = context.configuration.clock.now }
                armTimer(c)
                return
            case .failure(let status, let reason):
                c.inbound = []
                c.inboundStart = 0
                c.requestStartedAt = nil
                respond(c, .text(status, reason), Exchange(keepAlive: false, head: false, json: false))
                return
            case .request(let request, let consumed):
                c.inboundStart += consumed
                c.requestStartedAt = nil
                c.answered += 1
                dispatch(c, request)
            }
        }
    }

    private func dispatch(_ c: HTTPConnection, _ request: HTTPRequest) {
        let router = HTTPRouter(context: context, loop: self)
        let budgetExceeded = pendingBytes > Self.outputBudget
        let exchange = Exchange(
            keepAlive: request.keepAlive && shutdownDeadline == nil,
            head: request.method == "HEAD",
            json: request.path.hasPrefix("/api/"),
            version: request.version
        )
        if budgetExceeded {
            // Responses nobody reads pile up past the port's budget: answer briefly until they drain.
            respond(
                c,
                .text(.serviceUnavailable, "the HTTP port has too much output waiting to be read; try again shortly"),
                exchange
            )
            return
        }
        switch router.route(request, connection: c) {
        case .respond(let response, let expiry):
            if let expiry { timers.schedule(.expiry(resource: expiry.resource), at: expiry.at) }
            respond(c, response, exchange)
        case .hold(let reply, let expiry):
            if let expiry { timers.schedule(.expiry(resource: expiry.resource), at: expiry.at) }
            c.phase = .held(reply, commits: reply.commits, failure: nil, exchange)
        case .stream:
            c.phase = .streaming
            let before = c.output.count
            HTTPResponse.writeStreamingHead(into: &c.output)
            c.output.append(contentsOf: "retry: 2000\n\n".utf8)
            pendingBytes += c.output.count - before
            c.lastStreamWrite = context.configuration.clock.now
        case .probe:
            startProbe(for: c, exchange)
        }
    }

    /// Writes a response; closes after it unless the exchange keeps the connection.
    func respond(_ c: HTTPConnection, _ response: HTTPResponse, _ exchange: Exchange) {
        let before = c.output.count
        response.write(into: &c.output, keepAlive: exchange.keepAlive, head: exchange.head, version: exchange.version)
        pendingBytes += c.output.count - before
        c.idleSince = context.configuration.clock.now
        c.phase = exchange.keepAlive ? .reading : .closing
        if !exchange.keepAlive {
            c.inbound = []
            c.inboundStart = 0
        }
    }

    // MARK: Writing

    func flush(_ c: HTTPConnection) {
        if let tls = c.tls { encrypt(c, tls) }
        while c.sent < c.output.count {
            let end = c.output.count
            let n = c.output.withUnsafeBytes { send(c.fd, $0.baseAddress! + c.sent, end - c.sent, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                c.sent += n
                pendingBytes -= n
            } else if n < 0 && errno == EINTR {
                continue
            } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                if c.outputBlockedSince == nil { c.outputBlockedSince = context.configuration.clock.now }
                armTimer(c)
                updateInterest(c, writable: true)
                return
            } else {
                closeConnection(c)
                return
            }
        }
        c.output.removeAll(keepingCapacity: c.output.capacity <= 65_536)
        c.sent = 0
        c.encrypted = 0
        c.outputBlockedSince = nil
        if case .closing = c.phase {
            if shutdownDeadline != nil {
                closeConnection(c)
                return
            }
            shutdown(c.fd, Int32(SHUT_WR))
            c.phase = .lingering(until: context.configuration.clock.now + Self.linger)
        } else if case .reading = c.phase, !c.hasNoInput {
            // Requests that waited for the responses before them to drain.
            process(c)
            if c.isOpen && c.pendingOutput > 0 {
                flush(c)
                return
            }
        }
        if shutdownDeadline != nil, case .reading = c.phase {
            closeConnection(c)
            return
        }
        guard c.isOpen else { return }
        armTimer(c)
        updateInterest(c, writable: false)
    }

    /// On a TLS connection, `output` holds records: the plain text appended since `encrypted` is turned into
    /// records in place (with the handshake's own bytes), so the send loop is the same for both.
    private func encrypt(_ c: HTTPConnection, _ tls: TLSSession) {
        var records: [UInt8] = []
        if c.encrypted < c.output.count {
            let plain = c.output.count - c.encrypted
            if tls.isEstablished {
                let failed = c.output.withUnsafeBytes {
                    tls.write(UnsafeRawBufferPointer(rebasing: $0[c.encrypted...]))
                }
                if failed != nil {
                    closeConnection(c)
                    return
                }
            }
            c.output.removeLast(plain)
            pendingBytes -= plain
        }
        tls.takeOutput(appendingTo: &records)
        c.output.append(contentsOf: records)
        pendingBytes += records.count
        c.encrypted = c.output.count
    }

    func updateInterest(_ c: HTTPConnection, writable: Bool) {
        let read = c.wantsToRead
        guard read != c.readRegistered || writable != c.writeRegistered else { return }
        c.readRegistered = read
        c.writeRegistered = writable
        var ev = epoll_event()
        // The hang-up is asked about only while reading: epoll would report it at once, for ever, meanwhile.
        if read { ev.events |= EPOLLIN.rawValue | EPOLLRDHUP.rawValue }
        if writable { ev.events |= EPOLLOUT.rawValue }
        ev.data.fd = c.fd
        epoll_ctl(epollFD, EPOLL_CTL_MOD, c.fd, &ev)
    }

    // MARK: Messages from other threads

    /// An event line for a dashboard's stream: sent as one Server-Sent Event.
    func deliver(_ line: [UInt8], to key: ConnectionKey) {
        guard let c = connections[key.fd], c.key == key, case .streaming = c.phase else { return }
        var body = line[...]
        while body.last == UInt8(ascii: "\n") { body = body.dropLast() }
        if c.pendingOutput + body.count + 8 > Self.streamBufferBytes || pendingBytes > Self.outputBudget {
            context.stats.slowConsumerDisconnects.add(1, ordering: .relaxed)
            context.logger.debug(
                "closing an event stream whose reader does not keep up",
                metadata: ["peer": "\(c.peer)"]
            )
            closeConnection(c)
            return
        }
        c.output.append(contentsOf: "data: ".utf8)
        c.output.append(contentsOf: body)
        c.output.append(contentsOf: "\n\n".utf8)
        pendingBytes += body.count + 8
        c.lastStreamWrite = context.configuration.clock.now
        // A stream whose socket is full is written when it drains, not tried again for every event.
        if c.outputBlockedSince == nil { flush(c) }
    }

    /// A held action's change was committed (or failed): its response goes out, then the next request.
    func committed(_ key: ConnectionKey, failure: ProtocolError?) {
        guard let c = connections[key.fd], c.key == key,
            case .held(let reply, let commits, let earlier, let exchange) = c.phase
        else { return }
        if commits > 1 {
            c.phase = .held(reply, commits: commits - 1, failure: earlier ?? failure, exchange)
            return
        }
        var w = JSONWriter()
        reply.write(committed: earlier ?? failure, into: &w)
        respond(c, HTTPRouter.apiResponse(w.bytes), exchange)
        process(c)
        flush(c)
    }

    // MARK: Health probes

    private func startProbe(for c: HTTPConnection, _ exchange: Exchange) {
        c.phase = .probing(exchange)
        if var pending = probe {
            pending.requesters.append(c.key)
            probe = pending
            return
        }
        probeSequence &+= 1
        probe = (probeSequence, Set(context.mailboxes.indices), [c.key])
        for mailbox in context.mailboxes { mailbox.post(.probe(probeSequence)) }
        timers.schedule(.probe(probeSequence), at: context.configuration.clock.now + Self.probeTimeout)
    }

    func probeAnswered(loop: Int, sequence: UInt64) {
        guard var pending = probe, pending.sequence == sequence else { return }
        pending.waiting.remove(loop)
        probe = pending
        if pending.waiting.isEmpty { finishProbe(.text(.ok, "ok")) }
    }

    func probeTimedOut(_ sequence: UInt64) {
        guard let pending = probe, pending.sequence == sequence else { return }
        let stuck = pending.waiting.sorted().map(String.init).joined(separator: ", ")
        finishProbe(
            .text(
                .serviceUnavailable,
                "not healthy: event loop(s) \(stuck) did not answer within \(Self.probeTimeout.millisecondsRoundedUp) ms"
            )
        )
    }

    private func finishProbe(_ response: HTTPResponse) {
        guard let pending = probe else { return }
        probe = nil
        for key in pending.requesters {
            guard let c = connections[key.fd], c.key == key, case .probing(let exchange) = c.phase else { continue }
            respond(c, response, exchange)
            process(c)
            flush(c)
        }
    }

    // MARK: Closing

    func closeConnection(_ c: HTTPConnection) {
        guard c.isOpen else { return }
        c.isOpen = false
        pendingBytes -= c.pendingOutput
        connections.removeValue(forKey: c.fd)
        epoll_ctl(epollFD, EPOLL_CTL_DEL, c.fd, nil)
        close(c.fd)
        if c.session.watching { context.hub.connectionClosed(c.key) }
    }
}
