/// A request line that could not be decoded: the error to reply with, and what of the request was readable.
public struct RequestDecodingError: Error, Sendable, Hashable {
    /// The request's id, when it could be read (echoed in the error reply).
    public let id: RequestID?
    /// The operation, when it could be read (for statistics).
    public let operation: OperationName?
    /// True when the request asked for no reply.
    public let noreply: Bool
    /// The error to reply with.
    public let error: ProtocolError
}
