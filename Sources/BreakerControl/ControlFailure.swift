public import HighwayBreaker

/// Why a `breakerctl` command failed, with the exit code it ends with:
/// 1 the server refused (its message on stderr), 2 a usage error, 3 the server cannot be reached.
public struct ControlFailure: Error, Sendable, CustomStringConvertible {
    /// The process exit code.
    public let exitCode: Int32
    /// What to print on stderr.
    public let message: String

    public init(exitCode: Int32, message: String) {
        self.exitCode = exitCode
        self.message = message
    }

    /// The server answered with an error (not_found, forbidden, …).
    public static let refused: Int32 = 1
    /// The command line was wrong.
    public static let usage: Int32 = 2
    /// The server could not be reached.
    public static let unreachable: Int32 = 3

    /// Maps a client error to an exit code: unreachable (3) or refused (1).
    public init(_ error: BreakerClientError, server: String) {
        if error.serverUnreachable {
            self.init(exitCode: Self.unreachable, message: "cannot reach breakerd at \(server): \(error.message)")
        } else {
            self.init(exitCode: Self.refused, message: "\(error.code): \(error.message)")
        }
    }

    public var description: String { message }
}
