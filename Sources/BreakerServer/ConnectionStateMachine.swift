import BreakerCore
import BreakerProtocol

/// The protocol-level life of one connection, with no I/O: it takes events (bytes read, a line, a reply
/// written, a commit done, output drained, a timer, the peer closing) and returns what the event loop must do.
/// The loop owns the socket and the buffers and only carries out these actions; whether it should read is
/// `wantsToRead`, and when it needs the timer again is `nextDeadline`.
struct ConnectionStateMachine {
    /// The limits a connection lives under.
    struct Limits: Sendable {
        /// What an unauthenticated connection may send before it is closed, in bytes.
        var unauthenticatedBytes: Int
        /// How long after connecting a connection has to succeed with `hello` (when tokens are required). Bytes
        /// sent meanwhile do not extend it.
        var helloTimeout: Duration
        /// Pending output past which the connection's requests are not read until its replies drain, in bytes.
        var backPressureBytes: Int
        /// Pending output past which a watcher's events disconnect it, in bytes.
        var slowConsumerBytes: Int
        /// How long input is read and dropped after `line_too_long`, and how long a connection that is closing
        /// may take to receive its last output, before it is closed.
        var linger: Duration
        /// How long output may wait without a byte going out before the connection is closed: a peer that
        /// stops reading cannot pin its buffers for ever.
        var outputStall: Duration
    }

    enum Phase {
        /// Reading and answering requests.
        case active
        /// A reply waits for its changes' commits: input is kept for later, events wait behind the reply.
        /// `awaiting` is how many commits are still to come; `failure` the first that failed.
        case held(HeldReply, awaiting: Int, failure: ProtocolError?)
        /// Sending what is pending, then closing.
        case closingAfterFlush
        /// After `line_too_long`: the error is sent, the write side shut, input dropped until the peer closes or
        /// the deadline passes.
        case discarding(until: MonotonicInstant)
        /// Closed; every later event is ignored.
        case closed
    }

    /// What to do with bytes just read.
    enum ReceiveAction: Equatable {
        /// Split them into lines and answer them.
        case frame
        /// Keep them, in order, for after the held reply.
        case keepForLater
        /// Drop them.
        case drop
    }

    /// What to do after a line was answered, or about to be.
    enum LineAction: Equatable {
        /// Go on with the next line.
        case next
        /// Stop splitting lines: the rest of the input waits (held reply) or is dropped (closing).
        case stop
        /// The peer speaks HTTP: close at once, without a reply.
        case abort
        /// Too much input before a successful `hello`: write this error, send what is pending, and close.
        case refuse(ProtocolError)
    }

    /// What to do with a commit's outcome.
    enum CommitAction {
        /// Write this reply (or its error), then the events that waited behind it, then answer the kept input.
        case release(HeldReply, failure: ProtocolError?)
        /// Nothing to write yet: more of the held reply's commits are to come, or nothing waits (the connection
        /// is closing).
        case ignore
    }

    /// What to do with an event line for a watcher.
    enum EventAction: Equatable {
        /// Append it to the output.
        case send
        /// Keep it until the held reply is written.
        case wait
        /// The watcher does not read: close it.
        case disconnectSlowConsumer
        /// Drop it (the connection is closing).
        case drop
    }

    /// What to do once every sendable byte went out.
    enum DrainAction: Equatable {
        case none
        /// Shut the socket's write side (after `line_too_long`) and keep dropping input.
        case shutdownWrite
        case close
    }

    /// What to do when the timer reaches this connection.
    enum TimerAction: Equatable {
        case none
        case close
        /// Output made no progress for the stall limit: the peer does not read. Close without waiting.
        case closeStalled
        case closeWithError(ProtocolError)
    }

    let limits: Limits
    private(set) var phase: Phase = .active
    /// The connection's requests are not read until its output drains.
    private(set) var backPressured = false
    private(set) var peerClosed = false
    private(set) var shuttingDown = false
    private var sawFirstLine = false
    private var unauthenticatedBytes = 0
    /// When the connection was accepted (the `hello` deadline counts from here).
    private let acceptedAt: MonotonicInstant
    private var wroteShutdown = false
    /// Since when output has waited without a byte going out (nil while it moves, or none waits).
    private var stalledSince: MonotonicInstant?

    init(limits: Limits, now: MonotonicInstant) {
        self.limits = limits
        self.acceptedAt = now
    }

    /// True while the loop should read the socket.
    var wantsToRead: Bool {
        guard case .active = phase else {
            if case .discarding = phase { return !peerClosed }
            return false
        }
        return !backPressured && !peerClosed && !shuttingDown
    }

    /// True while requests may be answered: not held, not back-pressured, not closing.
    var canProcess: Bool {
        guard case .active = phase else { return false }
        return !backPressured
    }

    /// True while a reply waits for a commit (output after it must not be sent).
    var isHeld: Bool {
        if case .held = phase { return true }
        return false
    }

    /// When `timerFired` should next be called, if ever.
    func nextDeadline(authenticated: Bool) -> MonotonicInstant? {
        let stall = stalledSince.map { $0 + stallLimit }
        switch phase {
        case .discarding(let until): return min(until, stall ?? until)
        case .active, .held:
            let hello = authenticated ? nil : acceptedAt + limits.helloTimeout
            return [hello, stall].compactMap { $0 }.min()
        case .closingAfterFlush: return stall
        case .closed: return nil
        }
    }

    /// How long output may stall: the linger once the connection is closing, else `outputStall`.
    private var stallLimit: Duration {
        if case .closingAfterFlush = phase { return limits.linger }
        return limits.outputStall
    }

    /// The socket took no more output (`EAGAIN`) at `now`; a deadline starts if none runs.
    mutating func outputBlocked(now: MonotonicInstant) {
        if stalledSince == nil { stalledSince = now }
    }

    /// Some output went out: the stall deadline starts again from the next block.
    mutating func outputProgressed() {
        stalledSince = nil
    }

    // MARK: Input

    /// Bytes were read: what to do with them depends on the phase alone (before `hello`, lines are counted as
    /// they are answered, in `lineArrived`).
    mutating func received() -> ReceiveAction {
        switch phase {
        case .held: return .keepForLater
        case .closingAfterFlush, .discarding, .closed: return .drop
        case .active: return backPressured ? .keepForLater : .frame
        }
    }

    /// The start of a line that has not ended yet (`bytes`, kept by the framer). HTTP is recognised before its
    /// first line ends, and before `hello` an unfinished line counts against the byte limit too.
    mutating func partialLine(_ bytes: [UInt8], authenticated: Bool) -> LineAction {
        if !sawFirstLine && Self.looksLikeHTTP(bytes) {
            phase = .closed
            return .abort
        }
        guard !authenticated, unauthenticatedBytes + bytes.count > limits.unauthenticatedBytes else { return .next }
        return refuseUnauthenticated()
    }

    /// A complete request line, before it is answered. Before `hello`, lines count against the byte limit one by
    /// one, so that a `hello` followed at once by pipelined requests is answered, and what follows it is not
    /// counted.
    mutating func lineArrived(_ line: UnsafeRawBufferPointer, authenticated: Bool) -> LineAction {
        guard case .active = phase else { return .stop }
        if !sawFirstLine {
            sawFirstLine = true
            if Self.looksLikeHTTP(line) {
                phase = .closed
                return .abort
            }
        }
        if !authenticated {
            unauthenticatedBytes += line.count + 1
            if unauthenticatedBytes > limits.unauthenticatedBytes { return refuseUnauthenticated() }
        }
        return .next
    }

    private mutating func refuseUnauthenticated() -> LineAction {
        phase = .closingAfterFlush
        return .refuse(
            ProtocolError(
                .unauthorized,
                "more than \(limits.unauthenticatedBytes) bytes before a successful hello; closing"
            )
        )
    }

    /// A line was answered: the reply was written (or is held); `pendingOutput` bytes now wait to be sent.
    mutating func answered(_ disposition: RequestHandler.Answer.Disposition, pendingOutput: Int) -> LineAction {
        switch disposition {
        case .done:
            // Past the limit the connection's requests are not answered (nor read) until its output drains:
            // the output a client can make the server produce is bounded, not only what it reads.
            guard pendingOutput > limits.backPressureBytes else { return .next }
            backPressured = true
            return .stop
        case .closeAfterReply:
            phase = .closingAfterFlush
            return .stop
        case .hold(let reply):
            phase = .held(reply, awaiting: reply.commits, failure: nil)
            return .stop
        }
    }

    /// A line longer than the limit: the loop writes the returned error, and input is dropped from now on.
    mutating func lineTooLong(maximumLineBytes: Int, now: MonotonicInstant) -> ProtocolError {
        phase = .discarding(until: now + limits.linger)
        return ProtocolError(
            .lineTooLong,
            "a request line is longer than \(maximumLineBytes) bytes; the connection will be closed"
        )
    }

    /// The peer closed its side. Returns true when the loop should answer a last line that has no newline now
    /// (else it is answered once the held or back-pressured input has been).
    mutating func peerClosedInput() -> Bool {
        peerClosed = true
        return canProcess
    }

    // MARK: Output

    /// The durable writer committed (failure nil) or failed one of the held reply's changes. The reply is
    /// released with the last of them (with the first failure, if any failed).
    mutating func commitCompleted(failure: ProtocolError?) -> CommitAction {
        guard case .held(let reply, let awaiting, let earlier) = phase else { return .ignore }
        if awaiting > 1 {
            phase = .held(reply, awaiting: awaiting - 1, failure: earlier ?? failure)
            return .ignore
        }
        phase = .active
        return .release(reply, failure: earlier ?? failure)
    }

    /// An event line of `count` bytes arrived for this watcher; `pendingOutput` is what already waits (sent or
    /// deferred).
    mutating func eventArrived(_ count: Int, pendingOutput: Int) -> EventAction {
        switch phase {
        case .closingAfterFlush, .discarding, .closed: return .drop
        case .active, .held: break
        }
        if pendingOutput + count > limits.slowConsumerBytes {
            phase = .closed
            return .disconnectSlowConsumer
        }
        return isHeld ? .wait : .send
    }

    /// Every sendable byte went out. `unansweredInput` says whether read input still waits to be answered
    /// (kept while back-pressured or held): then a closed peer or a shutdown waits for it to be answered first.
    mutating func outputDrained(unansweredInput: Bool = false) -> DrainAction {
        backPressured = false
        stalledSince = nil
        switch phase {
        case .closingAfterFlush:
            phase = .closed
            return .close
        case .discarding:
            if peerClosed {
                phase = .closed
                return .close
            }
            if wroteShutdown { return .none }
            wroteShutdown = true
            return .shutdownWrite
        case .held, .closed:
            return .none
        case .active:
            if (peerClosed || shuttingDown) && !unansweredInput {
                phase = .closed
                return .close
            }
            return .none
        }
    }

    // MARK: Time and shutdown

    /// The timer reached this connection at `now`.
    mutating func timerFired(now: MonotonicInstant, authenticated: Bool) -> TimerAction {
        if let since = stalledSince, now - since >= stallLimit {
            phase = .closed
            return .closeStalled
        }
        switch phase {
        case .discarding(let until) where now >= until:
            phase = .closed
            return .close
        case .active, .held:
            guard !authenticated, now - acceptedAt >= limits.helloTimeout else { return .none }
            phase = .closingAfterFlush
            return .closeWithError(
                ProtocolError(
                    .unauthorized,
                    "no successful hello within \(limits.helloTimeout.millisecondsRoundedUp) ms of connecting; closing"
                )
            )
        default:
            return .none
        }
    }

    /// The server is shutting down: answer what was read, send it, close.
    mutating func shutdownBegun() {
        shuttingDown = true
    }

    /// The connection was closed by the loop.
    mutating func closed() {
        phase = .closed
    }

    // MARK: HTTP

    private static let httpPrefixes: [[UInt8]] = [
        "GET ", "POST ", "PUT ", "HEAD ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE ", "PRI * HTTP",
        "Host:",
    ].map { Array($0.utf8) }

    /// True when `bytes` start like an HTTP request.
    static func looksLikeHTTP<C: Collection<UInt8>>(_ bytes: C) -> Bool {
        httpPrefixes.contains { prefix in bytes.count >= prefix.count && bytes.starts(with: prefix) }
    }
}
