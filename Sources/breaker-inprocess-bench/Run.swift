import HighwayBreaker
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What every thread of one measured run shares: the breaker, the start and stop flags, and the counts.
final class Run: Sendable {
    /// How many calls a thread makes between two looks at the stop flag (and, when timed, two clock reads).
    static let batch = 64

    let policy: any ResiliencePolicy
    /// True to time every batch of one thread (the median nanoseconds per call of a one-thread run).
    let timesBatches: Bool
    let ready = Atomic<Int>(0)
    let go = Atomic<Bool>(false)
    let stop = Atomic<Bool>(false)
    let calls = Atomic<Int>(0)
    /// Nanoseconds per call of every timed batch, when `timesBatches`.
    let batchNanoseconds = Mutex<[Double]>([])

    init(policy: any ResiliencePolicy, timesBatches: Bool) {
        self.policy = policy
        self.timesBatches = timesBatches
    }

    /// One thread's loop: wait for the start, call until told to stop, add its count.
    func work() {
        ready.add(1, ordering: .relaxed)
        while !go.load(ordering: .acquiring) { sched_yield() }
        var count = 0
        var timed: [Double] = []
        if timesBatches { timed.reserveCapacity(1 << 16) }
        while !stop.load(ordering: .relaxed) {
            let start = timesBatches ? SystemClock.read() : MonotonicInstant(nanoseconds: 0)
            for _ in 0..<Self.batch { _ = try? policy.runBlocking { () } }
            if timesBatches {
                let elapsed = SystemClock.read() - start
                timed.append(Double(elapsed.nanosecondsClamped) / Double(Self.batch))
            }
            count += Self.batch
        }
        calls.add(count, ordering: .relaxed)
        if timesBatches { batchNanoseconds.withLock { $0 += timed } }
    }
}

/// One measured run: the calls per second of all threads together, and the nanoseconds per call of every
/// batch when the run timed them.
struct Measurement {
    var callsPerSecond: Double
    var batchNanoseconds: [Double]
}

/// Measures `threads` OS threads calling `runBlocking { () }` on `policy` for `seconds`.
func measure(_ policy: any ResiliencePolicy, threads: Int, seconds: Double, timesBatches: Bool) -> Measurement {
    let run = Run(policy: policy, timesBatches: timesBatches)
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
    return Measurement(
        callsPerSecond: Double(run.calls.load(ordering: .relaxed)) / elapsedSeconds,
        batchNanoseconds: run.batchNanoseconds.withLock { $0 }
    )
}
