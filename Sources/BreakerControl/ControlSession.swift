public import HighwayBreaker

#if canImport(Glibc)
import Glibc
#endif

/// Opening the connection for one `breakerctl` command.
public enum ControlSession {
    /// How long to wait for the server before giving up with exit code 3.
    public static let connectWithin = Duration.milliseconds(900)

    /// Connects to `server` (HOST:PORT) with the token in `tokenFile`, or fails with exit code 3 (unreachable)
    /// or 2 (bad options) within a second.
    public static func connect(server: String, tokenFile: String?) async throws(ControlFailure) -> BreakerClient {
        let (host, port) = try ControlOptions.server(server)
        var token: String?
        if let tokenFile { token = try readToken(tokenFile) }
        var config = BreakerClient.Configuration(host: host, port: port, token: token, clientName: operatorName())
        config.connectTimeout = .milliseconds(400)
        config.adminTimeout = .seconds(10)
        config.requestTimeout = .seconds(5)
        let client = BreakerClient(configuration: config)
        guard await client.waitUntilConnected(timeout: connectWithin) else {
            client.shutdown()
            throw ControlFailure(
                exitCode: ControlFailure.unreachable,
                message: "cannot reach breakerd at \(server): nothing answered within 1 s (is it running? check --server or BREAKER_SERVER)")
        }
        return client
    }

    /// The first token in the file (one per line; `#` comments and blank lines skipped).
    public static func readToken(_ path: String) throws(ControlFailure) -> String {
        guard let f = fopen(path, "r") else {
            throw ControlFailure(exitCode: ControlFailure.usage, message: "--token-file \(path): cannot be read: \(String(cString: strerror(errno)))")
        }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4_096)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        let token = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters() }.first { !$0.isEmpty && !$0.hasPrefix("#") }
        guard let token else { throw ControlFailure(exitCode: ControlFailure.usage, message: "--token-file \(path): holds no token") }
        return token
    }

    /// `breakerctl@<user>`: the name the server's audit log records for this operator.
    static func operatorName() -> String {
        if let user = getenv("USER") ?? getenv("LOGNAME") { return "breakerctl@\(String(cString: user))" }
        return "breakerctl"
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> String {
        var s = self
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\r" { s.removeLast() }
        return String(s)
    }
}
