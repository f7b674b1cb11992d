/// An error reply: a code and a message that says what was wrong and what to do.
public struct ProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The machine-readable code.
    public let code: ErrorCode
    /// The human-readable message.
    public let message: String

    /// Creates an error reply.
    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
