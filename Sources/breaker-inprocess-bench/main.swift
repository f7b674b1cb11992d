// The call-path benchmark of benchmarks/RESULTS-inprocess.md: `runBlocking` with a no-op body on one shared
// breaker, from 1, 2, 8 and 64 OS threads, printing the calls per second of all threads together. The breaker is
// an in-process `CircuitBreakerPolicy` (`--mode policy`, the default) or a strict `SharedCircuitBreaker` on
// breakerd (`--mode strict --server HOST:PORT`: one round trip per call, for comparison). Build it in release:
//
//     swift build -c release --product breaker-inprocess-bench
//     .build/release/breaker-inprocess-bench [--mode policy|strict] [--server 127.0.0.1:7433]
//         [--threads 1,2,8,64] [--seconds 2] [--rounds 3]
//
// OS threads (not tasks): the cooperative pool has one thread per core, so it could never oversubscribe the
// cores, which is the case being measured. Each figure is the median of `--rounds` runs.

import HighwayBreaker
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What every thread of one run shares.
final class Run: Sendable {
    let policy: any ResiliencePolicy
    let ready = Atomic<Int>(0)
    let go = Atomic<Bool>(false)
    let stop = Atomic<Bool>(false)
    let calls = Atomic<Int>(0)

    init(policy: any ResiliencePolicy) { self.policy = policy }

    /// One thread's loop: wait for the start, call until told to stop, add its count.
    func work() {
        ready.add(1, ordering: .relaxed)
        while !go.load(ordering: .acquiring) { sched_yield() }
        var count = 0
        while !stop.load(ordering: .relaxed) {
            for _ in 0..<64 { _ = try? policy.runBlocking { () } }
            count += 64
        }
        calls.add(count, ordering: .relaxed)
    }
}

/// Calls per second of `threads` threads calling for `seconds` on one shared policy.
func measure(_ policy: any ResiliencePolicy, threads: Int, seconds: Double) -> Double {
    let run = Run(policy: policy)
    var ids: [pthread_t] = []
    for _ in 0..<threads {
        let context = Unmanaged.passRetained(run).toOpaque()
        var id = pthread_t()
        let created = pthread_create(
            &id,
            nil,
            { context in
                let run = Unmanaged<Run>.fromOpaque(context!).takeRetainedValue()
                run.work()
                return nil
            },
            context
        )
        precondition(created == 0, "pthread_create failed: \(created)")
        ids.append(id)
    }
    while run.ready.load(ordering: .relaxed) < threads { sched_yield() }
    let start = SystemClock.read()
    run.go.store(true, ordering: .releasing)
    let end = start + .milliseconds(Int64(seconds * 1000))
    while SystemClock.read() < end { usleep(10_000) }
    run.stop.store(true, ordering: .relaxed)
    for id in ids { pthread_join(id, nil) }
    let elapsed = SystemClock.read() - start
    let elapsedSeconds = Double(elapsed.nanosecondsClamped) / 1e9
    return Double(run.calls.load(ordering: .relaxed)) / elapsedSeconds
}

/// The value after `name` on the command line, if any.
func option(_ name: String) -> String? {
    let arguments = CommandLine.arguments
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
    return arguments[i + 1]
}

/// The breaker to measure, as `--mode` and `--server` say; a fresh one per run.
func makeBreaker(round: Int, threads: Int) async throws -> any ResiliencePolicy {
    switch option("--mode") ?? "policy" {
    case "policy":
        return CircuitBreakerPolicy(policy: BreakerPolicy.default)
    case "strict":
        let server = (option("--server") ?? "127.0.0.1:7433").split(separator: ":")
        guard server.count == 2, let port = Int(server[1]) else {
            fatalError("--server takes HOST:PORT, for example 127.0.0.1:7433")
        }
        var configuration = BreakerClient.Configuration(host: String(server[0]), port: port)
        configuration.requestTimeout = .seconds(5)
        let client = BreakerClient(configuration: configuration)
        try await client.connect()
        return try SharedCircuitBreaker(resource: "bench-\(threads)-\(round)", client: client)
    case let mode:
        fatalError("--mode takes policy or strict, not \(mode)")
    }
}

let threadCounts = (option("--threads") ?? "1,2,8,64").split(separator: ",").compactMap { Int($0) }
let seconds = option("--seconds").flatMap { Double($0) } ?? 2
let rounds = option("--rounds").flatMap { Int($0) } ?? 3

print("| threads | calls/s (all threads, median of \(rounds)) | ns per call per thread | rounds |")
print("|---:|---:|---:|---|")
for threads in threadCounts {
    var rates: [Double] = []
    for round in 0..<rounds {
        let breaker = try await makeBreaker(round: round, threads: threads)
        rates.append(measure(breaker, threads: threads, seconds: seconds))
    }
    rates.sort()
    let median = rates[rates.count / 2]
    let each = rates.map { String(Int($0.rounded())) }.joined(separator: ", ")
    let nanoseconds = Double(threads) * 1e9 / median
    print("| \(threads) | \(Int(median.rounded())) | \(Int(nanoseconds.rounded())) | \(each) |")
}
