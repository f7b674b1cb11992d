import ArgumentParser
import HighwayBreaker
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// A test driver: a separate process that uses `SharedCircuitBreaker` the way a service would, printing one
/// JSON line per event so tests can follow it. Not for production use.
@main
struct BreakerDriver: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "breaker-driver",
        abstract: "Drives a shared circuit from a separate process (for tests).",
        subcommands: [Fail.self, HoldPermit.self, Calls.self, ProbeBurst.self, ProbeUntilGranted.self]
    )

    struct Connection: ParsableArguments {
        @Option(help: "breakerd's HOST:PORT (a cluster's replicas: HOST:PORT,HOST:PORT,…).") var server =
            "127.0.0.1:7433"
        @Option(help: "The resource.") var resource = "demo"
        @Option(help: "Token file, when the server needs one.") var tokenFile: String?
        @Option(help: "Client name.") var name = "breaker-driver"
        @Option(help: "Request timeout for acquire/report, in ms.") var timeoutMs = 100
        @Option(help: "CA (PEM) of breakerd's certificate: turns TLS on.") var tlsCa: String?
        @Option(help: "Client certificate (PEM), for mutual TLS.") var tlsCert: String?
        @Option(help: "Key (PEM) of --tls-cert.") var tlsKey: String?

        func client() async throws -> BreakerClient {
            // HOST:PORT, or a cluster's replicas separated by commas.
            let servers = try server.split(separator: ",").map { part in
                guard let server = BreakerClient.Configuration.Server(parsing: part) else {
                    throw ValidationError("--server must be HOST:PORT or HOST:PORT,HOST:PORT,…")
                }
                return server
            }
            guard !servers.isEmpty else { throw ValidationError("--server must be HOST:PORT") }
            let token = try tokenFile.map { try BreakerClient.Configuration.readToken(fromFile: $0) }
            var config = BreakerClient.Configuration(servers: servers, token: token, clientName: name)
            config.requestTimeout = .milliseconds(Int64(timeoutMs))
            if tlsCa != nil || tlsCert != nil {
                config.tls = try BreakerClient.TLSConfiguration(
                    caFile: tlsCa,
                    certificateFile: tlsCert,
                    keyFile: tlsKey
                )
            }
            let client = BreakerClient(configuration: config)
            do {
                try await client.connect(timeout: .seconds(10))
            } catch {
                throw ValidationError(error.message)
            }
            return client
        }
    }

    /// Makes `count` calls that fail through the shared breaker; prints what happened to each.
    struct Fail: AsyncParsableCommand {
        @OptionGroup var connection: Connection
        @OptionGroup var mode: DriverMode
        @Option var count = 5
        @Option(help: "Policy failure threshold k/n, used if this creates the breaker.") var failureThreshold = "5/5"

        func run() async throws {
            let client = try await connection.client()
            let policy = try BreakerPolicy(
                failureThreshold: Fraction(parsing: failureThreshold)!,
                cooldown: .seconds(60)
            )
            let breaker = try SharedCircuitBreaker(
                resource: connection.resource,
                policy: policy,
                client: client,
                consistency: mode.breakerConsistency
            )
            for i in 0..<count {
                do {
                    try await breaker.run { throw DriverFailure() }
                } catch is DriverFailure {
                    emit(#"{"call":\#(i),"result":"failed","fallback":\#(breaker.isInFallback)}"#)
                } catch let open as CircuitOpenError {
                    emit(
                        #"{"call":\#(i),"result":"rejected","state":"\#(open.state)","fallback":\#(breaker.isInFallback)}"#
                    )
                }
            }
            _ = try? await client.ping()  // answered after the noreply reports sent before it: they have arrived
        }
    }

    /// Acquires until it holds a probe permit, prints it, then waits to be killed.
    struct HoldPermit: AsyncParsableCommand {
        @OptionGroup var connection: Connection

        func run() async throws {
            let client = try await connection.client()
            while true {
                let reply = try await client.acquire(connection.resource)
                if let permit = reply.permit {
                    emit(#"{"permit":"\#(permit)"}"#)
                    while true { try await Task.sleep(for: .seconds(3_600)) }
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// Makes calls through the shared breaker every `interval-ms` until killed (or `count` calls), failing while
    /// the file `--fail-while` exists and lasting `--slow-ms` while the file `--slow-while` exists; prints each
    /// result with its latency. `--tasks N` runs N such loops at once on the one breaker (their lines carry
    /// `"task"`).
    struct Calls: AsyncParsableCommand {
        @OptionGroup var connection: Connection
        @OptionGroup var mode: DriverMode
        @Option var count = Int.max
        @Option var intervalMs = 20
        @Option var failWhile: String?
        @Option(help: "While this file exists, a call's body lasts --slow-ms (checked when the body starts).")
        var slowWhile: String?
        @Option(help: "How long a slow call's body lasts, in ms.") var slowMs = 1_000
        @Option(help: "Concurrent call loops on the one breaker.") var tasks = 1
        @Option var fallback = "local"

        func validate() throws {
            guard tasks >= 1 else { throw ValidationError("--tasks must be at least 1") }
        }

        func run() async throws {
            let client = try await connection.client()
            let breaker = try SharedCircuitBreaker(
                resource: connection.resource,
                client: client,
                fallback: SharedCircuitBreaker.Fallback(rawValue: fallback) ?? .local,
                consistency: mode.breakerConsistency,
                onStateChange: { _, from, to in emit(#"{"event":"\#(from)->\#(to)"}"#) }
            )
            try await breaker.subscribed(timeout: .seconds(10))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<tasks {
                    group.addTask { try await loop(breaker, task: tasks > 1 ? task : nil) }
                }
                try await group.waitForAll()
            }
        }

        private func loop(_ breaker: SharedCircuitBreaker, task: Int?) async throws {
            let taskField = task.map { #","task":\#($0)"# } ?? ""
            var i = 0
            while i < count {
                let start = ContinuousClock.now
                var result = "ok"
                do {
                    try await breaker.run {
                        if let failWhile, access(failWhile, F_OK) == 0 { throw DriverFailure() }
                        if let slowWhile, access(slowWhile, F_OK) == 0 {
                            try await Task.sleep(for: .milliseconds(slowMs))
                        }
                    }
                } catch is DriverFailure {
                    result = "failed"
                } catch let open as CircuitOpenError {
                    result = "rejected:\(open.state)"
                }
                let ms = (ContinuousClock.now - start).components
                let latency = Double(ms.seconds) * 1_000 + Double(ms.attoseconds) / 1e15
                let inFallback = breaker.isInFallback
                emit(#"{"call":\#(i),"result":"\#(result)","ms":\#(latency),"fallback":\#(inFallback)\#(taskField)}"#)
                i += 1
                try await Task.sleep(for: .milliseconds(intervalMs))
            }
        }
    }
}

extension BreakerDriver {
    /// Many concurrent acquires at once; prints how many probe permits were granted.
    struct ProbeBurst: AsyncParsableCommand {
        @OptionGroup var connection: Connection
        @Option var concurrency = 10

        func run() async throws {
            let client = try await connection.client()
            let permits = await withTaskGroup(of: Int.self) { group in
                for _ in 0..<concurrency {
                    group.addTask { ((try? await client.acquire(connection.resource))?.permit != nil) ? 1 : 0 }
                }
                return await group.reduce(0, +)
            }
            emit(#"{"permits":\#(permits)}"#)
        }
    }

    /// Asks every 20 ms until a probe permit is granted; prints when.
    struct ProbeUntilGranted: AsyncParsableCommand {
        @OptionGroup var connection: Connection
        @Option var maxSeconds = 30

        func run() async throws {
            let client = try await connection.client()
            let end = ContinuousClock.now + .seconds(maxSeconds)
            while ContinuousClock.now < end {
                if let reply = try? await client.acquire(connection.resource),
                    reply.permit != nil || (reply.allowed && reply.state == .closed)
                {
                    emit(#"{"granted":true,"state":"\#(reply.state)"}"#)
                    return
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            emit(#"{"granted":false}"#)
        }
    }
}

/// Milliseconds since the Unix epoch.
func wallMs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000 + Int64(ts.tv_nsec) / 1_000_000
}

/// One JSON line on stdout, flushed at once, stamped with the wall-clock time (`"t"`, ms since the epoch).
func emit(_ json: String) {
    let line = "{\"t\":\(wallMs())," + json.dropFirst()
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
}
