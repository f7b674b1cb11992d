// The call-path benchmark of benchmarks/RESULTS-inprocess.md and RESULTS-lease.md.
//
// Table mode: `runBlocking` with a no-op body on one shared breaker, from 1, 2, 8 and 64 OS threads, printing
// the calls per second of all threads together, and for one thread the median nanoseconds per call. The breaker
// is an in-process `CircuitBreakerPolicy` (`policy`), a strict `SharedCircuitBreaker` (`strict`: one round trip
// per call) or a leased one (`leased`: closed calls decided locally under a lease), on breakerd:
//
//     swift build -c release --product breakerd
//     swift build -c release --product breaker-inprocess-bench
//     .build/release/breaker-inprocess-bench [--mode policy,strict,leased] [--server 127.0.0.1:7433]
//         [--threads 1,2,8,64] [--seconds 2] [--rounds 3]
//
// Without `--server`, a mode that needs breakerd starts the release breakerd next to this binary on
// 127.0.0.1:0 (a free port) and stops it at the end.
//
// Load mode (`--load`, for benchmarks/lease_load.py): one client process with `--resources` leased breakers,
// calling them in turn as fast as it can (or at `--rate` calls/s) for `--seconds`; see LoadClient.swift.
//
// OS threads (not tasks): the cooperative pool has one thread per core, so it could never oversubscribe the
// cores, which is the case being measured. Each figure is the median of `--rounds` runs.

import Foundation
import HighwayBreaker

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The value after `name` on the command line, if any.
func option(_ name: String) -> String? {
    let arguments = CommandLine.arguments
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
    return arguments[i + 1]
}

/// `--server HOST:PORT` split, or nil when not given.
func serverOption() throws -> (host: String, port: Int)? {
    guard let text = option("--server") else { return nil }
    let parts = text.split(separator: ":")
    guard parts.count == 2, let port = Int(parts[1]) else {
        throw BenchFailure("--server takes HOST:PORT, for example 127.0.0.1:7433, not \(text)")
    }
    return (String(parts[0]), port)
}

/// A connected client with a generous timeout (the benchmark must not fall back).
func connectedClient(host: String, port: Int, name: String) async throws -> BreakerClient {
    var configuration = BreakerClient.Configuration(host: host, port: port, clientName: name)
    configuration.requestTimeout = .seconds(5)
    var logger = Logger(label: "breaker-inprocess-bench")
    logger.logLevel = .warning
    let client = BreakerClient(configuration: configuration, logger: logger)
    try await client.connect()
    return client
}

/// How many requests breakerd has received since it started, all operations together.
func requestCount(_ client: BreakerClient) async throws -> Int {
    try await client.stats().operations.values.reduce(0, +)
}

/// One breaker to measure, the client it uses (nil in-process), and its resource.
struct Subject {
    var breaker: any ResiliencePolicy
    var client: BreakerClient?
}

/// A fresh breaker of `mode` for one run. A leased one is warmed up until the server shows its lease and then
/// for two more flush intervals, so that the measured calls are decided locally.
func makeSubject(mode: String, resource: String, server: (host: String, port: Int)?) async throws -> Subject {
    if mode == "policy" { return Subject(breaker: CircuitBreakerPolicy(policy: BreakerPolicy.default)) }
    guard let server else { throw BenchFailure("mode \(mode) needs breakerd") }
    let client = try await connectedClient(host: server.host, port: server.port, name: "bench-\(mode)")
    switch mode {
    case "strict":
        return Subject(breaker: try SharedCircuitBreaker(resource: resource, client: client), client: client)
    case "leased":
        let breaker = try SharedCircuitBreaker(resource: resource, client: client, consistency: .leased)
        let deadline = SystemClock.read() + .seconds(10)
        while (try? await client.status(resource).leases ?? 0) ?? 0 < 1 {
            guard SystemClock.read() < deadline else { throw BenchFailure("no lease on \(resource) within 10 s") }
            _ = try? breaker.runBlocking { () }
            usleep(5_000)
        }
        usleep(100_000)
        return Subject(breaker: breaker, client: client)
    default:
        throw BenchFailure("--mode takes policy, strict or leased (comma-separated), not \(mode)")
    }
}

/// The median of `values` (which must not be empty).
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

/// Table mode: one row per mode and thread count.
func table() async throws {
    let modes = (option("--mode") ?? "policy").split(separator: ",").map(String.init)
    let threadCounts = (option("--threads") ?? "1,2,8,64").split(separator: ",").compactMap { Int($0) }
    let seconds = option("--seconds").flatMap { Double($0) } ?? 2
    let rounds = option("--rounds").flatMap { Int($0) } ?? 3
    var started: Breakerd?
    var server = try serverOption()
    if server == nil && modes.contains(where: { $0 != "policy" }) {
        let breakerd = try Breakerd()
        started = breakerd
        server = ("127.0.0.1", breakerd.port)
        print("started breakerd on 127.0.0.1:\(breakerd.port)")
    }
    defer { started?.stop() }

    print(
        "| mode | threads | calls/s (all threads, median of \(rounds)) | ns per call per thread "
            + "| median ns per call (batches of \(Run.batch)) | requests to breakerd per s | rounds |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for mode in modes {
        for threads in threadCounts {
            var rates: [Double] = []
            var batches: [Double] = []
            var requestRates: [Double] = []
            for round in 0..<rounds {
                let subject = try await makeSubject(
                    mode: mode,
                    resource: "bench-\(mode)-\(threads)-\(round)",
                    server: server
                )
                var before: Int?
                if let client = subject.client { before = try await requestCount(client) }
                let measured = measure(subject.breaker, threads: threads, seconds: seconds, timesBatches: threads == 1)
                if let client = subject.client, let before {
                    // The stats request itself is one of the requests counted.
                    let requests = try await requestCount(client) - before - 1
                    requestRates.append(Double(requests) / seconds)
                    client.shutdown()
                }
                rates.append(measured.callsPerSecond)
                batches += measured.batchNanoseconds
            }
            let middle = median(rates)
            let each = rates.map { String(Int($0.rounded())) }.joined(separator: ", ")
            let perThread = Double(threads) * 1e9 / middle
            let batchMedian = batches.isEmpty ? "–" : String(Int(median(batches).rounded()))
            let requests = requestRates.isEmpty ? "–" : String(Int(median(requestRates).rounded()))
            print(
                "| \(mode) | \(threads) | \(Int(middle.rounded())) | \(Int(perThread.rounded())) | \(batchMedian) "
                    + "| \(requests) | \(each) |"
            )
        }
    }
}

do {
    if CommandLine.arguments.contains("--load") {
        try await LoadClient.fromCommandLine().run()
    } else {
        try await table()
    }
} catch {
    FileHandle.standardError.write(Data("breaker-inprocess-bench: \(error)\n".utf8))
    exit(1)
}
