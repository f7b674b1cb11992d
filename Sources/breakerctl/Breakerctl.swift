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
            Talks to breakerd (--server, env BREAKER_SERVER, default 127.0.0.1:7433); over TLS with --tls-ca (and
            --tls-cert/--tls-key for mutual TLS). Global options may come before or after the subcommand. Exit codes: 0 success, 1 the server refused (its message on stderr),
            2 usage error, 3 server unreachable.

            Example: breakerctl open payments-db --reason "provider outage, INC-4711" --for 30m
            """,
        version: PackageVersion.current,
        subcommands: [
            Ping.self, List.self, Status.self, Open.self, Close.self, Release.self, Reset.self, Configure.self,
            Delete.self, Watch.self, History.self, Stats.self, Cluster.self,
        ]
    )

    @OptionGroup var globals: Globals
}

extension ControlCommand {
    var server: String {
        globals.server ?? parent.globals.server ?? env("BREAKER_SERVER") ?? ControlOptions.defaultServer
    }
    var tokenFile: String? { globals.tokenFile ?? parent.globals.tokenFile ?? env("BREAKER_TOKEN_FILE") }
    var json: Bool { globals.json || parent.globals.json }
    var tls: ControlSession.TLSOptions {
        ControlSession.TLSOptions(
            ca: globals.tlsCa ?? parent.globals.tlsCa ?? env("BREAKER_TLS_CA"),
            certificate: globals.tlsCert ?? parent.globals.tlsCert ?? env("BREAKER_TLS_CERT"),
            key: globals.tlsKey ?? parent.globals.tlsKey ?? env("BREAKER_TLS_KEY"),
            serverName: globals.tlsServerName ?? parent.globals.tlsServerName ?? env("BREAKER_TLS_SERVER_NAME")
        )
    }

    func run() async throws {
        let out = Output(
            json: json,
            formatter: ControlFormatter(color: ControlFormatter.shouldColor, nowMs: ControlFormatter.wallNowMs())
        )
        let client = try await ControlSession.connect(server: server, tokenFile: tokenFile, tls: tls)
        defer { client.shutdown() }
        do {
            try await run(client: client, out: out)
        } catch {
            throw error
        }
    }

    /// Runs a client call, turning its error into the command's exit code. A cluster replica that is not the
    /// leader sends the client to the leader: the call is made again there (a few times, while an election
    /// settles).
    func call<T>(_ body: () async throws(BreakerClientError) -> T) async throws(ControlFailure) -> T {
        try await ControlSession.call(server: server, body)
    }
}

func env(_ name: String) -> String? {
    guard let v = getenv(name), v.pointee != 0 else { return nil }
    return String(cString: v)
}
