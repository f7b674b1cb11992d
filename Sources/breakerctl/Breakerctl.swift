import ArgumentParser
import BreakerControl
import HighwayBreaker
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `breakerctl`: see and force circuits. Exit codes: 0 success, 1 the server refused, 2 usage, 3 unreachable.
struct Breakerctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "breakerctl",
        abstract: "See and force Highway Breaker circuits, fleet-wide.",
        discussion: """
            Talks to breakerd (--server, env BREAKER_SERVER, default 127.0.0.1:7433). Global options may come before
            or after the subcommand. Exit codes: 0 success, 1 the server refused (its message on stderr),
            2 usage error, 3 server unreachable.

            Example: breakerctl open payments-db --reason "provider outage, INC-4711" --for 30m
            """,
        version: PackageVersion.current,
        subcommands: [
            Ping.self, List.self, Status.self, Open.self, Close.self, Release.self, Reset.self, Configure.self,
            Delete.self, Watch.self, History.self, Stats.self,
        ])

    @OptionGroup var globals: Globals
}

/// `--server`, `--token-file`, `--json`: accepted before and after the subcommand.
struct Globals: ParsableArguments {
    @Option(help: "breakerd's HOST:PORT (env BREAKER_SERVER; default 127.0.0.1:7433).")
    var server: String?

    @Option(help: "File with the token to send in hello (env BREAKER_TOKEN_FILE).")
    var tokenFile: String?

    @Flag(help: "Print the server's objects as JSON, one per line.")
    var json = false
}

/// What every subcommand shares: the globals given after it, merged with those given before it.
protocol ControlCommand: AsyncParsableCommand {
    var globals: Globals { get }
    var parent: Breakerctl { get }
    func run(client: BreakerClient, out: Output) async throws(ControlFailure)
}

extension ControlCommand {
    var server: String {
        globals.server ?? parent.globals.server ?? env("BREAKER_SERVER") ?? ControlOptions.defaultServer
    }
    var tokenFile: String? { globals.tokenFile ?? parent.globals.tokenFile ?? env("BREAKER_TOKEN_FILE") }
    var json: Bool { globals.json || parent.globals.json }

    func run() async throws {
        let out = Output(json: json, formatter: ControlFormatter(color: ControlFormatter.shouldColor, nowMs: ControlFormatter.wallNowMs()))
        let client = try await ControlSession.connect(server: server, tokenFile: tokenFile)
        defer { client.shutdown() }
        do {
            try await run(client: client, out: out)
        } catch {
            throw error
        }
    }

    /// Runs a client call, turning its error into the command's exit code.
    func call<T>(_ body: () async throws(BreakerClientError) -> T) async throws(ControlFailure) -> T {
        do {
            return try await body()
        } catch {
            throw ControlFailure(error, server: server)
        }
    }
}

func env(_ name: String) -> String? {
    guard let v = getenv(name), v.pointee != 0 else { return nil }
    return String(cString: v)
}

/// Where a command's results go: lines for people, or JSON lines.
struct Output: Sendable {
    let json: Bool
    let formatter: ControlFormatter

    func line(_ text: String) {
        let bytes = Array((text + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
    }

    func breaker(_ b: BreakerInfo, human: String? = nil) {
        line(json ? ControlJSON.breaker(b) : (human ?? formatter.status(b)))
    }
}

@main
enum Main {
    static func main() async {
        // The client library's notices (connected, reconnecting) are not for an operator's terminal.
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        do {
            var command = try Breakerctl.parseAsRoot()
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
            exit(0)
        } catch let failure as ControlFailure {
            fail(failure.message, code: failure.exitCode)
        } catch {
            let code = Breakerctl.exitCode(for: error)
            if code == .success {
                print(Breakerctl.fullMessage(for: error))
                exit(0)
            }
            // Every parsing or validation problem is a usage error: exit code 2.
            fail(Breakerctl.fullMessage(for: error), code: ControlFailure.usage)
        }
    }

    static func fail(_ message: String, code: Int32) -> Never {
        let bytes = Array(("breakerctl: " + message + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        exit(code)
    }
}
