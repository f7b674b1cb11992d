/// Why a request to etcd failed. `isUnavailable` tells a failure to reach any member (retry later, with
/// backoff) from an answer etcd gave (a bad request, a lease that no longer exists).
public struct EtcdError: Error, Sendable, CustomStringConvertible {
    private enum Code: Sendable, Hashable {
        case unavailable
        case rejected
        case malformed
    }

    private let code: Code
    /// What went wrong, for logs: the member asked and its answer or the network failure.
    public let message: String

    private init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// No member answered (connection refused, timed out, closed).
    public static func unavailable(_ message: String) -> Self { Self(.unavailable, message) }
    /// A member answered with an error status (etcd's own error message included).
    public static func rejected(_ message: String) -> Self { Self(.rejected, message) }
    /// A member answered something that is not the gateway's JSON.
    public static func malformed(_ message: String) -> Self { Self(.malformed, message) }

    /// True when no member could be reached: nothing was decided.
    public var isUnavailable: Bool { code == .unavailable }

    public var description: String { message }
}
