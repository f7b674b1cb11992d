import BreakerClock
import BreakerCore
import BreakerProtocol
import BreakerTLS

/// One HTTP connection: its socket, the bytes not yet parsed, the response bytes not yet sent, and what it is
/// doing. Owned by the HTTP loop; never touched by another thread.
final class HTTPConnection {
    /// What the connection is doing.
    enum Phase {
        /// Reading and answering requests, one at a time, in order.
        case reading
        /// An action's reply waits for the durable writer (`commits` more commits).
        case held(HeldReply, commits: Int, failure: ProtocolError?, Exchange)
        /// `/healthz` waits for the event loops to answer a probe.
        case probing(Exchange)
        /// `/events`: a Server-Sent Events stream, until either side closes.
        case streaming
        /// A last response is being sent; then the write side is shut and the input read until `linger`.
        case closing
        /// The write side is shut; the input is read and dropped until the peer closes or the deadline passes.
        case lingering(until: MonotonicInstant)
    }

    /// How the response to the request being answered must be written.
    struct Exchange {
        var keepAlive: Bool
        var head: Bool
        /// Whether errors are JSON (`/api/…`) or a text line.
        var json: Bool
        /// The request's version (a 1.0 client that asked for keep-alive is told it got it).
        var version: HTTPVersion = .http1_1
    }

    let fd: Int32
    let key: ConnectionKey
    /// The peer's address, `IP:PORT`, for the audit log.
    let peer: String
    var session: Session
    var phase = Phase.reading
    /// Received bytes; those before `inboundStart` are parsed (at most one request's limits past that).
    var inbound: [UInt8] = []
    var inboundStart = 0
    /// Requests answered on this connection (a connection that has sent none gets the request timeout, not the
    /// idle one).
    var answered = 0
    /// Response bytes; `sent` of them already went out. On a TLS connection, the bytes before `encrypted` are
    /// TLS records and the rest plain text waiting to be encrypted.
    var output: [UInt8] = []
    var sent = 0
    var encrypted = 0
    /// The TLS session, when the port has TLS.
    var tls: TLSSession?
    /// When the request being received began (the parser first found it incomplete), for the request timeout.
    var requestStartedAt: MonotonicInstant?
    /// When the connection last finished a response or opened (for the idle timeout).
    var idleSince: MonotonicInstant
    /// When output began waiting for the peer to read (cleared only when all of it went out), for the stall
    /// timeout: a peer that reads a byte now and then cannot pin its buffers for ever.
    var outputBlockedSince: MonotonicInstant?
    /// When the event stream last sent something (a keep-alive comment follows 15 s of silence).
    var lastStreamWrite: MonotonicInstant
    var timerArmed: MonotonicInstant?
    var readRegistered = true
    var writeRegistered = false
    var isOpen = true

    init(fd: Int32, key: ConnectionKey, peer: String, role: Role?, now: MonotonicInstant) {
        self.fd = fd
        self.key = key
        self.peer = peer
        self.session = Session(role: role, key: key)
        self.idleSince = now
        self.lastStreamWrite = now
    }

    /// Output not yet sent, in bytes.
    var pendingOutput: Int { output.count - sent }

    /// True when no request has begun arriving.
    var hasNoInput: Bool { inboundStart == inbound.count }

    /// True when the loop should read from the socket: to parse requests (unless replies pile up), to notice a
    /// stream's peer closing, or to drain a closing peer's input.
    var wantsToRead: Bool {
        switch phase {
        case .reading: pendingOutput < HTTPLoop.backPressureBytes
        case .streaming, .lingering: true
        case .held, .probing, .closing: false
        }
    }
}
