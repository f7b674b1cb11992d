import BreakerProtocol
import Synchronization

/// Counters for `stats`. Per-operation counts live per event loop (no cache line shared between loops on the
/// request path); the rest are atomics touched only on connect, disconnect and rare events.
final class ServerStats: Sendable {
    struct LoopCounters: Sendable {
        var operations = [Int](repeating: 0, count: OperationName.allCases.count)
        /// Error replies by code, in `ErrorCode.allKnown` order.
        var errorsByCode = [Int](repeating: 0, count: ErrorCode.allKnown.count)

        /// Every error reply.
        var errors: Int { errorsByCode.reduce(0, +) }
    }

    /// Each loop's counters: `OperationName.allCases.count` operation counters, then one per `ErrorCode.allKnown`.
    /// Relaxed atomics in cache lines of their own, so loops share none and no lock is on the request path.
    let perLoop: [CounterBlock]
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
        perLoop = (0..<loops).map { _ in CounterBlock(count: Self.firstErrorSlot + ErrorCode.allKnown.count) }
        startedAt = startedAtMs
    }

    /// Counts a request of `op` (nil: not known) on `loop`, and the error code it was answered with, if any.
    func count(_ op: OperationName?, error: ErrorCode?, loop: Int) {
        let box = perLoop[loop]
        if let op { box.add(at: Self.index(of: op)) }
        if let error { box.add(at: Self.firstErrorSlot + Self.index(of: error)) }
    }

    /// The slot of the first error counter in a loop's block.
    static var firstErrorSlot: Int { OperationName.allCases.count }

    /// The position of `code` in `ErrorCode.allKnown` (a code it does not list counts as `internal`).
    static func index(of code: ErrorCode) -> Int {
        ErrorCode.allKnown.firstIndex(of: code) ?? ErrorCode.allKnown.count - 1
    }

    /// The position of `op` in `OperationName.allCases` (declaration order), without searching that array.
    static func index(of op: OperationName) -> Int {
        switch op {
        case .ping: 0
        case .hello: 1
        case .acquire: 2
        case .report: 3
        case .status: 4
        case .list: 5
        case .configure: 6
        case .force: 7
        case .release: 8
        case .reset: 9
        case .delete: 10
        case .watch: 11
        case .unwatch: 12
        case .history: 13
        case .stats: 14
        case .lease: 15
        case .cluster: 16
        }
    }

    /// Sums of every loop's counters.
    func totals() -> LoopCounters {
        var sum = LoopCounters()
        for box in perLoop {
            for i in sum.operations.indices { sum.operations[i] += box.load(at: i) }
            for i in sum.errorsByCode.indices { sum.errorsByCode[i] += box.load(at: Self.firstErrorSlot + i) }
        }
        return sum
    }
}
