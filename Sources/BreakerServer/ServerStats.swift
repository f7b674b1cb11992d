import BreakerProtocol
import Synchronization

/// Counters for `stats`. Per-operation counts live per event loop (no cache line shared between loops on the
/// request path); the rest are atomics touched only on connect, disconnect and rare events.
final class ServerStats: Sendable {
    struct LoopCounters: Sendable {
        var operations = [Int](repeating: 0, count: OperationName.allCases.count)
        var errors = 0
    }

    /// One loop's counters: one relaxed atomic per operation and one for errors (no lock on the request path).
    /// Each loop's counters fill whole cache lines of their own, so loops share none. `Atomic` cannot be
    /// copied into an array, hence the pointer, owned by this object.
    final class LoopBox: @unchecked Sendable {
        /// `OperationName.allCases.count` operation counters, then the error counter.
        private let slots: UnsafeMutablePointer<Atomic<Int>>
        private let slotCount = OperationName.allCases.count + 1

        init() {
            let bytes = (slotCount * MemoryLayout<Atomic<Int>>.stride + 63) / 64 * 64
            slots = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
                .bindMemory(to: Atomic<Int>.self, capacity: slotCount)
            for i in 0..<slotCount { (slots + i).initialize(to: Atomic(0)) }
        }

        deinit {
            slots.deinitialize(count: slotCount)
            slots.deallocate()
        }

        func add(at slot: Int) { slots[slot].wrappingAdd(1, ordering: .relaxed) }

        func load(at slot: Int) -> Int { slots[slot].load(ordering: .relaxed) }

        /// The slot of the error counter.
        var errorSlot: Int { slotCount - 1 }
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
        let box = perLoop[loop]
        if let op { box.add(at: Self.index(of: op)) }
        if error { box.add(at: box.errorSlot) }
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
        }
    }

    /// Sums of every loop's counters.
    func totals() -> LoopCounters {
        var sum = LoopCounters()
        for box in perLoop {
            for i in sum.operations.indices { sum.operations[i] += box.load(at: i) }
            sum.errors += box.load(at: box.errorSlot)
        }
        return sum
    }
}
