import Synchronization

/// The last `capacity` counted outcomes, oldest first.
struct OutcomeHistory: Sendable {
    private var ring: [Outcome] = []
    private var next = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = max(capacity, 1) }

    mutating func append(_ outcome: Outcome) {
        if ring.count < capacity {
            ring.append(outcome)
        } else {
            ring[next] = outcome
            next = (next + 1) % capacity
        }
    }

    var outcomes: [Outcome] { Array(ring[next...] + ring[..<next]) }
}
