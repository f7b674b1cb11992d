import BreakerCore
import BreakerProtocol
import BreakerTLS

/// One client connection: its socket, buffers, protocol session and state machine. Owned by one event loop;
/// never touched by another thread.
///
/// The properties touched for every request or every read opt out of dynamic exclusivity checks
/// (`@exclusivity(unchecked)`): each check costs some 80 instructions (a thread-local lookup included), and the
/// loop never overlaps two accesses to one of them (the framer's callback touches the session, machine and
/// output, never the framer itself; a backlog is re-framed from a copy, outside the framer's callback; the
/// other flags and counters are read or assigned whole).
final class Connection {
    let fd: Int32
    @exclusivity(unchecked) var session: Session
    /// The connection's decisions (see `ConnectionStateMachine`).
    @exclusivity(unchecked) var machine: ConnectionStateMachine
    /// Splits the input into request lines (and keeps a line that has not ended yet).
    @exclusivity(unchecked) var framer: LineFramer
    /// Replies and events not yet sent; `sent` bytes of it already went out.
    @exclusivity(unchecked) var output: JSONWriter
    @exclusivity(unchecked) var sent = 0
    /// Input read while a reply was held, answered after the commit.
    @exclusivity(unchecked) var backlog: [UInt8] = []
    /// Event lines that arrived while a reply was held: they follow the reply.
    @exclusivity(unchecked) var deferredEvents: [UInt8] = []
    /// The epoll interest as registered.
    @exclusivity(unchecked) var readRegistered = true
    @exclusivity(unchecked) var writeRegistered = false
    @exclusivity(unchecked) var hangupRegistered = true
    /// This watcher's share of `ServerStats.watcherPendingBytes`.
    @exclusivity(unchecked) var accountedWatchBytes = 0
    /// Counted in `ServerStats.unauthenticatedConnections` (until its `hello` succeeds or it closes).
    @exclusivity(unchecked) var countedUnauthenticated = false
    /// True until `EventLoop.closeConnection` removes it from its loop's table (the only place that does; it is
    /// in the table from its creation on), so that `c.isOpen` answers `connections[c.fd] === c` without a
    /// lookup. A closed connection's descriptor may already belong to a new connection.
    @exclusivity(unchecked) var isOpen = true
    /// The instant of this connection's timer in the loop's heap, if one is armed.
    @exclusivity(unchecked) var timerArmed: MonotonicInstant?
    /// The TLS session, on a TLS port (`--tls-cert`); nil in plain text.
    @exclusivity(unchecked) var tls: TLSSession?
    /// Encrypted records the socket did not take when they were made (TLS only; the session's own buffer is
    /// empty after every flush); `cipherSent` bytes of them already went out.
    @exclusivity(unchecked) var cipher: [UInt8] = []
    @exclusivity(unchecked) var cipherSent = 0
    /// Until the TLS handshake completes: when the connection is closed if it has not.
    @exclusivity(unchecked) var handshakeDeadline: MonotonicInstant?

    init(fd: Int32, key: ConnectionKey, role: Role?, machine: ConnectionStateMachine, maximumLineBytes: Int) {
        self.fd = fd
        self.framer = LineFramer(maximumLineBytes: maximumLineBytes)
        self.session = Session(role: role, key: key)
        self.machine = machine
        self.output = JSONWriter(bytes: [])
        self.output.bytes.reserveCapacity(4_096)
    }

    /// Output bytes not yet sent, events waiting behind a held reply included.
    var pendingOutput: Int { output.bytes.count - sent + deferredEvents.count + cipher.count - cipherSent }

    var isAuthenticated: Bool { session.role != nil }
}
