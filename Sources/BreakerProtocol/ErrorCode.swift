/// A protocol v1 error code, as it appears in `{"ok":false,"error":{"code":…}}`.
///
/// A struct rather than an enum so that codes added by a newer server still decode (as an unknown code)
/// in older clients.
public struct ErrorCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// The line is not JSON.
    public static let badJSON = ErrorCode(rawValue: "bad_json")
    /// The JSON is not a request: not an object, or a field is missing, of the wrong type or out of range.
    public static let badRequest = ErrorCode(rawValue: "bad_request")
    /// `op` names no operation of this protocol version.
    public static let unknownOp = ErrorCode(rawValue: "unknown_op")
    /// The resource name is empty, too long or has characters outside `A–Z a–z 0–9 . _ : / @ -`.
    public static let invalidResource = ErrorCode(rawValue: "invalid_resource")
    /// The policy object cannot work; the message names the field.
    public static let invalidPolicy = ErrorCode(rawValue: "invalid_policy")
    /// No breaker has that name.
    public static let notFound = ErrorCode(rawValue: "not_found")
    /// The line is longer than the server accepts; the server closes the connection after this reply.
    public static let lineTooLong = ErrorCode(rawValue: "line_too_long")
    /// The server has as many connections as it accepts; it closes this one after the reply.
    public static let tooManyConnections = ErrorCode(rawValue: "too_many_connections")
    /// The server holds as many breakers as it accepts; delete some or raise `--max-breakers`.
    public static let tooManyBreakers = ErrorCode(rawValue: "too_many_breakers")
    /// The connection has not authenticated (send `hello` with a token), or the token is wrong.
    public static let unauthorized = ErrorCode(rawValue: "unauthorized")
    /// The connection's role may not do this (admin operations with a client token).
    public static let forbidden = ErrorCode(rawValue: "forbidden")
    /// The server is shutting down and takes no new work.
    public static let shuttingDown = ErrorCode(rawValue: "shutting_down")
    /// The server could not do what was asked for a reason of its own (for example its database failed).
    public static let internalError = ErrorCode(rawValue: "internal")
    /// This replica of a cluster is not the leader: ask the one the error's `leader` names (cluster mode,
    /// protocol 1 since 0.4.0).
    public static let notLeader = ErrorCode(rawValue: "not_leader")

    /// Every code this version of the protocol defines.
    public static let allKnown: [ErrorCode] = [
        .badJSON, .badRequest, .unknownOp, .invalidResource, .invalidPolicy, .notFound, .lineTooLong,
        .tooManyConnections, .tooManyBreakers, .unauthorized, .forbidden, .shuttingDown, .internalError,
        .notLeader,
    ]

    public var description: String { rawValue }
}
