/// An error reply: a code and a message that says what was wrong and what to do.
public struct ProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The machine-readable code.
    public let code: ErrorCode
    /// The human-readable message.
    public let message: String
    /// With `not_leader`: the leader's address (`HOST:PORT`, its `--advertise`), when the replica knows it.
    public let leader: String?

    /// Creates an error reply.
    public init(_ code: ErrorCode, _ message: String, leader: String? = nil) {
        self.code = code
        self.message = message
        self.leader = leader
    }

    public var description: String { "\(code): \(message)" }
}
