import Foundation

/// A real `breakerd` process started by a test: it reads the "listening" line to learn the port.
public final class ServerProcess: @unchecked Sendable {
    // Safety: `process` and the pipes are set in init and only read afterwards; Foundation's Process is
    // thread-safe for terminate/waitUntilExit.
    public let process: Process
    public let port: Int
    public let stderrPath: String
    private let stdoutPipe: Pipe

    /// The built `breakerd` next to the test bundle (`.build/<triple>/debug/breakerd`).
    public static var binaryPath: String {
        binary(named: "breakerd")
    }

    /// A binary built by this package, found next to the running test bundle.
    public static func binary(named name: String) -> String {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        // The test bundle may be a directory (.xctest) on some layouts.
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return exe.deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// Starts `breakerd` with `arguments`, listening on `listen` (a free loopback port by default) and, unless
    /// `arguments` name a `--db`, keeping nothing (`--db :memory:`). Unless `arguments` name an `--http-listen`,
    /// the HTTP port takes a free port too (a restart on a fixed `listen` port must not need the next port free).
    public init(arguments: [String], listen: String = "127.0.0.1:0", startTimeout: TimeInterval = 30) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binaryPath)
        let db = arguments.contains("--db") ? [] : ["--db", ":memory:"]
        let http = arguments.contains("--http-listen") ? [] : ["--http-listen", "127.0.0.1:0"]
        process.arguments = ["--listen", listen] + db + http + arguments
        stdoutPipe = Pipe()
        process.standardOutput = stdoutPipe
        stderrPath = NSTemporaryDirectory() + "breakerd-\(UUID().uuidString).log"
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        try process.run()

        let handle = stdoutPipe.fileHandleForReading
        var collected = Data()
        let deadline = Date().addingTimeInterval(startTimeout)
        var found: Int?
        while found == nil && Date() < deadline && process.isRunning {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            collected.append(chunk)
            if let text = String(data: collected, encoding: .utf8),
                let line = text.split(separator: "\n").first(where: { $0.hasPrefix("breakerd listening on ") }),
                let p = line.split(separator: ":").last.flatMap({ Int($0) })
            {
                found = p
            }
        }
        guard let port = found else {
            process.terminate()
            let log = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
            throw LineClient.Failure(description: "breakerd did not start: \(log)")
        }
        self.port = port
    }

    /// What the process wrote to stderr so far.
    public var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Sends a signal (SIGTERM by default).
    public func signal(_ sig: Int32 = SIGTERM) {
        kill(process.processIdentifier, sig)
    }

    /// Waits for the process to exit; returns its exit status, or nil on timeout.
    public func waitForExit(timeout: TimeInterval = 10) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(5_000) }
        guard !process.isRunning else { return nil }
        return process.terminationStatus
    }

    /// Opens a client connection to the server.
    /// CPU time the server has used so far (user + system), in seconds, from /proc/PID/stat.
    public func cpuSeconds() throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8)
        guard let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state is field 3; utime and stime are fields 14 and 15 (1-based, whole line).
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    public func connect(receiveBuffer: Int? = nil) throws -> LineClient {
        try LineClient(port: port, receiveBuffer: receiveBuffer)
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: stderrPath)
    }
}

/// Runs a command to completion and returns its exit status and output (for flag and startup tests).
public func runToCompletion(
    _ path: String,
    _ arguments: [String],
    timeout: TimeInterval = 30
) throws
    -> (status: Int32, stdout: String, stderr: String)
{
    let base = NSTemporaryDirectory() + "run-\(UUID().uuidString)"
    _ = FileManager.default.createFile(atPath: base + ".out", contents: nil)
    _ = FileManager.default.createFile(atPath: base + ".err", contents: nil)
    defer {
        try? FileManager.default.removeItem(atPath: base + ".out")
        try? FileManager.default.removeItem(atPath: base + ".err")
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.standardOutput = FileHandle(forWritingAtPath: base + ".out")
    process.standardError = FileHandle(forWritingAtPath: base + ".err")
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(5_000) }
    if process.isRunning {
        process.terminate()
        throw LineClient.Failure(description: "\(path) did not finish within \(timeout) s")
    }
    let out = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
    let err = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
    return (process.terminationStatus, out, err)
}
