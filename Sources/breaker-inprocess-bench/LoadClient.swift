import HighwayBreaker
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Load mode (`--load`), one client process of benchmarks/lease_load.py: `resources` leased breakers
/// (`load-0` …) on one client, called in turn by `threads` OS threads as fast as they can (or at `rate` calls/s
/// in total), a call failing with probability `failureRate`.
///
/// The protocol with the script, one line each on stdout and stdin: it warms up (every breaker called for
/// `warmup`, so every lease is held), prints `ready`, waits for a line on stdin, calls for `seconds`, prints
/// `{"calls":…,"failures":…,"rejected":…,"seconds":…}`, and exits at the end of stdin (so that its connection
/// stays open until the script has read breakerd's counters).
///
///     breaker-inprocess-bench --load --server 127.0.0.1:PORT [--resources 100] [--seconds 10] [--threads 1]
///         [--rate 0] [--failure-rate 0] [--warmup 1]
struct LoadClient {
    var host: String
    var port: Int
    var resources: Int
    var seconds: Double
    var threads: Int
    /// Calls per second in total (0: as fast as possible).
    var rate: Double
    /// The probability that a call fails (0 to 1).
    var failureRate: Double
    /// Seconds of calls before `ready`.
    var warmup: Double

    /// The options of the command line.
    static func fromCommandLine() throws -> LoadClient {
        guard let server = try serverOption() else { throw BenchFailure("--load needs --server HOST:PORT") }
        return LoadClient(
            host: server.host,
            port: server.port,
            resources: option("--resources").flatMap { Int($0) } ?? 100,
            seconds: option("--seconds").flatMap { Double($0) } ?? 10,
            threads: max(option("--threads").flatMap { Int($0) } ?? 1, 1),
            rate: option("--rate").flatMap { Double($0) } ?? 0,
            failureRate: option("--failure-rate").flatMap { Double($0) } ?? 0,
            warmup: option("--warmup").flatMap { Double($0) } ?? 1
        )
    }

    func run() async throws {
        let client = try await connectedClient(host: host, port: port, name: "lease-load-\(getpid())")
        let breakers = try (0..<resources).map { index in
            try SharedCircuitBreaker(resource: "load-\(index)", client: client, consistency: .leased)
        }
        _ = LoadRun(breakers: breakers, threads: threads, rate: 0, failureRate: failureRate).go(seconds: warmup)
        print("ready")
        fflush(nil)
        _ = readLine()
        let load = LoadRun(breakers: breakers, threads: threads, rate: rate, failureRate: failureRate)
        let result = load.go(seconds: seconds)
        print(
            "{\"calls\":\(result.calls),\"failures\":\(result.failures),\"rejected\":\(result.rejected),"
                + "\"seconds\":\(result.seconds)}"
        )
        fflush(nil)
        while readLine() != nil {}
        client.shutdown()
    }
}

/// One timed run of load mode: the threads, their flags and their counts.
final class LoadRun: Sendable {
    let breakers: [SharedCircuitBreaker]
    let threads: Int
    let rate: Double
    let failureRate: Double
    let go = Atomic<Bool>(false)
    let stop = Atomic<Bool>(false)
    let calls = Atomic<Int>(0)
    let failures = Atomic<Int>(0)
    let rejected = Atomic<Int>(0)

    init(breakers: [SharedCircuitBreaker], threads: Int, rate: Double, failureRate: Double) {
        self.breakers = breakers
        self.threads = threads
        self.rate = rate
        self.failureRate = failureRate
    }

    /// A failure thrown by the body.
    struct Injected: Error {}

    /// One thread's loop: its breakers in turn, from its own starting point; at most `rate / threads` calls/s.
    func work(thread: Int) {
        while !go.load(ordering: .acquiring) { sched_yield() }
        let start = SystemClock.read()
        let perThread = rate / Double(threads)
        var random = UInt64(thread + 1) &* 0x9E37_79B9_7F4A_7C15
        let threshold = UInt64(failureRate * Double(UInt64.max >> 11)) << 11
        var index = thread * breakers.count / threads
        var count = 0
        var failed = 0
        var refused = 0
        while !stop.load(ordering: .relaxed) {
            for _ in 0..<64 {
                random ^= random << 13
                random ^= random >> 7
                random ^= random << 17
                let fails = random < threshold
                do {
                    try breakers[index].runBlocking { if fails { throw Injected() } }
                } catch is CircuitOpenError {
                    refused += 1
                } catch {
                    failed += 1
                }
                index += 1
                if index == breakers.count { index = 0 }
            }
            count += 64
            if perThread > 0 {
                let due = start + .nanoseconds(Int64(Double(count) / perThread * 1e9))
                let now = SystemClock.read()
                if now < due { usleep(UInt32((due - now).nanosecondsClamped / 1000)) }
            }
        }
        calls.add(count, ordering: .relaxed)
        failures.add(failed, ordering: .relaxed)
        rejected.add(refused, ordering: .relaxed)
    }

    /// Runs the threads for `seconds`; returns the counts and the time they ran, in seconds.
    func go(seconds: Double) -> (calls: Int, failures: Int, rejected: Int, seconds: Double) {
        var ids: [pthread_t] = []
        for thread in 0..<threads {
            let context = Unmanaged.passRetained(Box(run: self, thread: thread)).toOpaque()
            var id = pthread_t()
            let created = pthread_create(
                &id,
                nil,
                { context in
                    let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
                    box.run.work(thread: box.thread)
                    return nil
                },
                context
            )
            precondition(created == 0, "pthread_create failed: \(created)")
            ids.append(id)
        }
        let start = SystemClock.read()
        go.store(true, ordering: .releasing)
        let end = start + .milliseconds(Int64(seconds * 1000))
        while SystemClock.read() < end { usleep(10_000) }
        stop.store(true, ordering: .relaxed)
        for id in ids { pthread_join(id, nil) }
        let elapsed = Double((SystemClock.read() - start).nanosecondsClamped) / 1e9
        return (
            calls.load(ordering: .relaxed), failures.load(ordering: .relaxed), rejected.load(ordering: .relaxed),
            elapsed
        )
    }

    /// What a thread of the run starts with.
    final class Box: Sendable {
        let run: LoadRun
        let thread: Int

        init(run: LoadRun, thread: Int) {
            self.run = run
            self.thread = thread
        }
    }
}
