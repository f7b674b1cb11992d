import BreakerProtocol
import Foundation

/// A `breaker-driver` process started by a test; its stdout is read line by line with timeouts.
public final class DriverProcess: @unchecked Sendable {
    // Safety: used by one test thread; Process is thread-safe for kill and isRunning.
    public let process: Process
    private let pipe = Pipe()
    private var buffer: [UInt8] = []

    public init(_ arguments: [String]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: ServerProcess.binary(named: "breaker-driver"))
        process.arguments = arguments
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// The next stdout line parsed as JSON, or nil at end of output. Throws on timeout.
    public func readJSON(timeout: Duration = .seconds(30)) throws -> JSONValue? {
        let fd = pipe.fileHandleForReading.fileDescriptor
        let deadline = ContinuousClock.now + timeout
        while true {
            if let nl = buffer.firstIndex(of: 0x0A) {
                let line = Array(buffer[..<nl])
                buffer.removeSubrange(...nl)
                return try JSONParser.parse(line)
            }
            guard ContinuousClock.now < deadline else {
                throw LineClient.Failure(description: "driver printed nothing within \(timeout)")
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 50) > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 4_096)
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { return nil }
            buffer += chunk[0..<n]
        }
    }

    /// Every remaining line, until the process ends.
    public func readAll(timeout: Duration = .seconds(60)) throws -> [JSONValue] {
        var out: [JSONValue] = []
        while let v = try readJSON(timeout: timeout) { out.append(v) }
        return out
    }

    public func kill(_ signal: Int32 = SIGKILL) {
        Foundation.kill(process.processIdentifier, signal)
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning { kill() }
    }
}
