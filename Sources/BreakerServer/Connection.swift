import BreakerCore
import BreakerProtocol

/// One client connection's buffers and protocol state. Owned by one event loop; never touched by another
/// thread.
final class Connection {
    let fd: Int32
    var session: Session
    /// Splits the input into request lines (and keeps a line that has not ended yet).
    var framer: LineFramer
    /// Replies and events not yet sent; `sent` bytes of it already went out.
    var output: JSONWriter
    var sent = 0
    /// EPOLLOUT is registered (the socket's send buffer was full).
    var wantsWritable = false
    /// EPOLLIN is registered (off while too much output waits: back-pressure on pipelining clients).
    var wantsReadable = true
    /// True until the first line has been seen (for HTTP detection).
    var isFirstLine = true
    /// Bytes received while unauthenticated.
    var unauthenticatedBytes = 0
    /// When the connection last sent anything.
    var lastActivity: MonotonicInstant
    /// Close once the output has been sent.
    var closeAfterFlush = false
    /// The write side is shut down after an error; input is read and dropped until the peer closes or
    /// `lingerUntil` passes.
    var discardingInput = false
    var lingerUntil: MonotonicInstant?
    /// The peer closed its side; close ours once the output has been sent.
    var peerClosed = false
    /// The bytes of a reply held until the durable writer commits (nothing from there on is sent), and the
    /// request's id (for an error reply if the commit fails).
    var heldRange: Range<Int>?
    var heldID: RequestID?
    /// Input received while held, answered after the commit.
    var backlog: [UInt8] = []

    init(fd: Int32, key: ConnectionKey, role: Role?, now: MonotonicInstant, maximumLineBytes: Int) {
        self.fd = fd
        self.framer = LineFramer(maximumLineBytes: maximumLineBytes)
        self.session = Session(role: role, key: key)
        self.output = JSONWriter(bytes: [])
        self.output.bytes.reserveCapacity(4_096)
        self.lastActivity = now
    }

    /// Output bytes not yet sent.
    var pendingOutput: Int { output.bytes.count - sent }

    /// Output that may be sent now: everything before a held reply.
    var sendableEnd: Int { heldRange?.lowerBound ?? output.bytes.count }
}
