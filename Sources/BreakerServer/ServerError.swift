#if canImport(Glibc)
import Glibc
#endif

/// Why the server could not start or go on. The message says what to do.
public struct ServerError: Error, Sendable, CustomStringConvertible {
    private enum Code: Sendable {
        case insecureListen, configuration, system, tokenFile, database
    }

    private let code: Code
    /// What went wrong and what to do about it.
    public let message: String

    private init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// Listening beyond loopback without token files.
    public static func insecureListen(_ address: ListenAddress, flag: String = "--listen") -> ServerError {
        ServerError(
            .insecureListen,
            "refusing to listen on \(address) (\(flag)) without authentication: that address is reachable from "
                + "other machines. Give --client-token-file and/or --admin-token-file, or pass --insecure if the "
                + "network is trusted"
                + (flag == "--listen" ? "" : " (or give --http-listen off, or a loopback address)")
        )
    }

    /// A bad combination of settings.
    public static func configuration(_ message: String) -> ServerError { ServerError(.configuration, message) }

    /// A system call failed.
    public static func system(_ what: String, errno: Int32) -> ServerError {
        ServerError(.system, "\(what): \(String(cString: strerror(errno))) (errno \(errno))")
    }

    /// A token file could not be used.
    public static func tokenFile(_ path: String, _ problem: String) -> ServerError {
        ServerError(.tokenFile, "token file \(path): \(problem)")
    }

    /// The database cannot be used (the message names the file and the problem).
    public static func database(_ message: String) -> ServerError { ServerError(.database, message) }

    /// True when listening was refused for lack of authentication.
    public var isInsecureListen: Bool { code == .insecureListen }

    public var description: String { message }
}
