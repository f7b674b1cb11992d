import BreakerProtocol
import Synchronization

/// Counters for `stats`. Per-operation counts live per event loop (no cache line shared between loops on the
/// request path); the rest are atomics touched only on connect, disconnect and rare events.
final class ServerStats: Sendable {
    struct LoopCounters: Sendable {
        var operations = [Int](repeating: 0, count: OperationName.allCases.count)
        var errors = 0
    }

    /// One loop's counters behind their own lock (a class, because `Mutex` cannot be copied into an array).
    final class LoopBox: Sendable {
        let counters = Mutex(LoopCounters())
    }

    let perLoop: [LoopBox]
    let currentConnections = Atomic<Int>(0)
    let totalConnections = Atomic<Int>(0)
    let rejectedConnections = Atomic<Int>(0)
    /// Output waiting to be sent to watching connections, across every loop, in bytes (`--max-watch-buffer`).
    let watcherPendingBytes = Atomic<Int>(0)
    /// Connections that have not (yet) succeeded with `hello`, when tokens are required.
    let unauthenticatedConnections = Atomic<Int>(0)
    let slowConsumerDisconnects = Atomic<Int>(0)
    let startedAt: Int64

    init(loops: Int, startedAtMs: Int64) {
        perLoop = (0..<loops).map { _ in LoopBox() }
        startedAt = startedAtMs
    }

    func count(_ op: OperationName?, error: Bool, loop: Int) {
        perLoop[loop].counters.withLock { c in
            if let op { c.operations[Self.index(of: op)] += 1 }
            if error { c.errors += 1 }
        }
    }

    /// Every operation, in `allCases` order, built once (`allCases` makes a new array on each use).
    private static let operations = OperationName.allCases

    static func index(of op: OperationName) -> Int {
        operations.firstIndex(of: op)!
    }

    /// Sums of every loop's counters.
    func totals() -> LoopCounters {
        var sum = LoopCounters()
        for box in perLoop {
            box.counters.withLock { c in
                for i in c.operations.indices { sum.operations[i] += c.operations[i] }
                sum.errors += c.errors
            }
        }
        return sum
    }
}
