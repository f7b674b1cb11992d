import ArgumentParser
import BreakerServer
import Foundation
import HighwayBreaker
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `swift run breaker-demo`: several worker processes share one circuit against a flaky fake dependency.
///
/// The demo starts a breakerd of its own (in-process, on a free port, keeping nothing), then worker processes
/// that each call a fake database every 50 ms through `SharedCircuitBreaker`. The database is healthy for
/// 1.5 s, down until 4 s, then healthy again. Watch the circuit open for every worker at once (most of them
/// never saw enough failures themselves), probe fleet-wide, and close again.
@main
struct BreakerDemo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "breaker-demo",
        abstract: "Several processes sharing one circuit against a flaky dependency.",
        subcommands: [Run.self, Worker.self],
        defaultSubcommand: Run.self
    )

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start breakerd and the workers (the default).")
        @Option(help: "Worker processes.") var workers = 4
        @Option(help: "Seconds to run.") var seconds = 6.0

        func run() async throws {
            var config = ServerConfiguration()
            config.listen = ListenAddress(host: "127.0.0.1", port: 0)
            config.databasePath = ":memory:"
            var logger = Logger(label: "breakerd")
            logger.logLevel = .warning
            let server = try BreakerServer(configuration: config, logger: logger)
            let port = try server.start().port
            say("breakerd (embedded) listening on 127.0.0.1:\(port); \(workers) workers share the circuit 'fake-db'")
            say("fake-db: healthy until 1.5 s, down until 4.0 s, then healthy\n")

            let start = Int64(Date().timeIntervalSince1970 * 1_000)
            let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            let processes = try (0..<workers).map { id -> Process in
                let p = Process()
                p.executableURL = me
                p.arguments = [
                    "worker", "--port", "\(port)", "--id", "\(id)", "--start-ms", "\(start)", "--seconds", "\(seconds)",
                ]
                try p.run()
                return p
            }
            for p in processes { p.waitUntilExit() }
            server.shutdown()
            server.waitUntilStopped()
            say(
                "\nEvery worker saw closed -> open at the same moment: failures anywhere opened the circuit everywhere."
            )
        }
    }

    struct Worker: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One worker process (started by `run`).")
        @Option var port: Int
        @Option var id: Int
        @Option var startMs: Int64
        @Option var seconds = 6.0

        func run() async throws {
            @Sendable func elapsed() -> Double { Double(Int64(Date().timeIntervalSince1970 * 1_000) - startMs) / 1_000 }
            let tag = "[worker \(id)]"
            let client = BreakerClient(host: "127.0.0.1", port: port, clientName: "worker-\(id)")
            try await client.connect()
            let policy = try BreakerPolicy(
                failureThreshold: Fraction(5, 10),
                successThreshold: Fraction(2, 2),
                cooldown: .seconds(1)
            )
            let breaker = try SharedCircuitBreaker(
                resource: "fake-db",
                policy: policy,
                client: client,
                onStateChange: { _, from, to in
                    say(String(format: "%@ %5.2fs circuit %@ -> %@", tag, elapsed(), "\(from)", "\(to)"))
                }
            )
            try await breaker.subscribed()  // from here on, every transition of fake-db reaches onStateChange
            var ran = 0
            var failed = 0
            var rejected = 0
            while elapsed() < seconds {
                do {
                    try await breaker.run {
                        ran += 1
                        let t = elapsed()
                        if t >= 1.5 && t < 4.0 { throw FakeDatabaseDown() }
                    }
                } catch is FakeDatabaseDown {
                    failed += 1
                } catch is CircuitOpenError {
                    rejected += 1
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            say(
                "\(tag) done: \(ran) calls reached fake-db (\(failed) failed), \(rejected) rejected by the shared circuit"
            )
        }
    }
}

/// Writes one line to stdout at once (stdout is a pipe when the demo's parent relays workers' lines).
func say(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
}
