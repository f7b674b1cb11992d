import Synchronization

/// A fixed number of relaxed atomic counters in cache lines of their own (no line shared with another block),
/// for counts bumped on hot paths and read at scrape time. `Atomic` cannot be copied into an array, hence the
/// pointer, owned by this object.
final class CounterBlock: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<Atomic<Int>>
    /// How many counters the block holds.
    let count: Int

    init(count: Int) {
        self.count = count
        let bytes = max(1, (count * MemoryLayout<Atomic<Int>>.stride + 63) / 64) * 64
        slots = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            .bindMemory(to: Atomic<Int>.self, capacity: count)
        for i in 0..<count { (slots + i).initialize(to: Atomic(0)) }
    }

    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }

    /// Adds `amount` to counter `slot`.
    func add(at slot: Int, _ amount: Int = 1) { slots[slot].wrappingAdd(amount, ordering: .relaxed) }

    /// Counter `slot` now.
    func load(at slot: Int) -> Int { slots[slot].load(ordering: .relaxed) }
}
