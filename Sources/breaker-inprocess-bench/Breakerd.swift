import Foundation

/// A release `breakerd` started by the benchmark when no `--server` is given: the binary next to this one,
/// on `127.0.0.1:0` (a free port), with a database file in a fresh temporary directory. It is killed when the
/// benchmark ends (`stop()`).
final class Breakerd {
    /// The port it listens on.
    let port: Int
    private let process: Process
    private let directory: URL

    /// Starts it with `arguments` added to the listen address and database; waits for its "listening" line.
    init(arguments: [String] = []) throws {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let binary = executable.deletingLastPathComponent().appendingPathComponent("breakerd")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw BenchFailure(
                "no breakerd next to the benchmark (\(binary.path)): build it with "
                    + "`swift build -c release --product breakerd`, or pass --server HOST:PORT"
            )
        }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        process = Process()
        process.executableURL = binary
        process.arguments =
            ["--listen", "127.0.0.1:0", "--db", directory.appendingPathComponent("b.sqlite").path]
            + ["--log-level", "warning"] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        var collected = ""
        var found: Int?
        while found == nil {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            collected += String(decoding: chunk, as: UTF8.self)
            found = collected.split(separator: "\n")
                .first { $0.hasPrefix("breakerd listening on ") }
                .flatMap { $0.split(separator: ":").last }
                .flatMap { Int($0) }
        }
        guard let found else {
            process.terminate()
            throw BenchFailure("breakerd did not say where it listens; it printed: \(collected)")
        }
        port = found
    }

    /// Stops it (SIGTERM, then waits) and removes its database.
    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Why the benchmark cannot go on, said so that the reader knows what to do.
struct BenchFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) { self.description = description }
}
