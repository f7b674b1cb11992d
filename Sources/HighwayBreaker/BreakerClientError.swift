public import BreakerProtocol

/// A request to `breakerd` that failed: a protocol error code from the server (`not_found`, `forbidden`, …,
/// one per code of protocol v1) or one of the client's own (`timeout`, `unavailable`, `disconnected`, …).
///
/// ```swift
/// do { try await client.force("db", .open) }
/// catch let e as BreakerClientError where e.code == .forbidden { … }
/// ```
public struct BreakerClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The code: one of `ErrorCode`'s protocol codes, or a client code below.
    public let code: ErrorCode
    /// What went wrong, from the server or the client.
    public let message: String

    /// An error with a protocol or client code and what went wrong.
    public init(code: ErrorCode, message: String) {
        self.code = code
        self.message = message
    }

    /// True when the server did not answer (timeout, not connected, connection lost), or answered that it is
    /// not a cluster's leader (the client is on its way to the leader): the cases that `SharedCircuitBreaker`'s
    /// fallback covers. False for the other errors the server replied with.
    public var serverUnreachable: Bool {
        code == .timeout || code == .unavailable || code == .disconnected || code == .notLeader
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }
}

extension ErrorCode {
    /// Client: no reply within the request's timeout.
    public static let timeout = ErrorCode(rawValue: "timeout")
    /// Client: not connected to the server right now (it reconnects by itself).
    public static let unavailable = ErrorCode(rawValue: "unavailable")
    /// Client: the connection was lost before the reply came.
    public static let disconnected = ErrorCode(rawValue: "disconnected")
    /// Client: the reply did not have the shape protocol v1 gives it.
    public static let malformedReply = ErrorCode(rawValue: "malformed_reply")
    /// Client: the client was closed.
    public static let closed = ErrorCode(rawValue: "closed")
    /// Client: the calling task was cancelled.
    public static let cancelled = ErrorCode(rawValue: "cancelled")
    /// A blocking call was made on the client's own I/O thread (from an event handler): it would wait for
    /// itself. Use the async API there, or hand the work to another thread.
    public static let wrongThread = ErrorCode(rawValue: "wrong_thread")
}
