/// The outcomes a closed (or forced-closed) breaker remembers: the last N calls, or the calls of the last T.
///
/// One struct serves both shapes (rather than an enum with payloads) so that mutation happens in place,
/// without copy-on-write copies of the storage on the hot path.
public struct OutcomeWindow: Sendable, Hashable {
    
    struct Bucket: Sendable, Hashable {
        /// Which bucket-length slice of time this slot holds (instant / bucket length).
        var epoch: Int64
        var calls: Int
        var failures: Int
    }

    // Count window: a ring of failure bits, `count` entries, next write at `head`.
    let capacity: Int
    var bits: [UInt64]
    var head: Int = 0
    var count: Int = 0
    var failureCount: Int = 0

    // Time window: `buckets.count` slots of `bucketNanoseconds` each.
    let bucketNanoseconds: Int64
    var buckets: [Bucket]

    /// An empty window of the policy's shape.
    public init(_ shape: BreakerPolicy.Window) {
        switch shape {
        case .count(let size):
            capacity = size
            bits = Array(repeating: 0, count: (size + 63) / 64)
            bucketNanoseconds = 0
            buckets = []
        case .time(let duration, let n):
            capacity = 0
            bits = []
            bucketNanoseconds = max(1, duration.nanosecondsClamped / Int64(n))
            buckets = Array(repeating: Bucket(epoch: .min, calls: 0, failures: 0), count: n)
        }
    }

    /// True for a time window.
    public var isTimeBased: Bool { bucketNanoseconds > 0 }

    /// Adds `successes` successes, then `failures` failures, at `now`.
    public mutating func record(successes: Int, failures: Int, now: MonotonicInstant) {
        if isTimeBased {
            let epoch = Self.floorDivide(now.nanoseconds, bucketNanoseconds)
            let slot = Int(Self.floorModulo(epoch, Int64(buckets.count)))
            if buckets[slot].epoch != epoch { buckets[slot] = Bucket(epoch: epoch, calls: 0, failures: 0) }
            buckets[slot].calls += successes + failures
            buckets[slot].failures += failures
        } else {
            // Recording more than `capacity` of one kind is the same as recording `capacity` of it.
            for _ in 0..<min(successes, capacity) { push(failure: false) }
            for _ in 0..<min(failures, capacity) { push(failure: true) }
        }
    }

    /// How many outcomes the window holds at `now`, and how many of them are failures.
    public func totals(now: MonotonicInstant) -> (calls: Int, failures: Int) {
        guard isTimeBased else { return (count, failureCount) }
        let current = Self.floorDivide(now.nanoseconds, bucketNanoseconds)
        let oldest = current &- Int64(buckets.count)
        var calls = 0
        var failures = 0
        for bucket in buckets where bucket.epoch > oldest && bucket.epoch <= current {
            calls += bucket.calls
            failures += bucket.failures
        }
        return (calls, failures)
    }

    /// For a count window, its outcomes oldest first (`.success` or `.failure`); empty for a time window.
    public var outcomes: [Outcome] {
        guard !isTimeBased else { return [] }
        let start = count == capacity ? head : 0
        return (0..<count).map { i in bit((start + i) % capacity) ? .failure : .success }
    }

    /// Empties the window, keeping its shape and storage.
    public mutating func removeAll() {
        if isTimeBased {
            for i in buckets.indices { buckets[i] = Bucket(epoch: .min, calls: 0, failures: 0) }
        } else {
            for i in bits.indices { bits[i] = 0 }
            head = 0
            count = 0
            failureCount = 0
        }
    }

    mutating func push(failure: Bool) {
        if count == capacity {
            if bit(head) { failureCount -= 1 }
        } else {
            count += 1
        }
        let word = head >> 6
        let mask = UInt64(1) << UInt64(head & 63)
        if failure {
            bits[word] |= mask
            failureCount += 1
        } else {
            bits[word] &= ~mask
        }
        head += 1
        if head == capacity { head = 0 }
    }

    func bit(_ index: Int) -> Bool { bits[index >> 6] & (UInt64(1) << UInt64(index & 63)) != 0 }

    static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    static func floorModulo(_ a: Int64, _ b: Int64) -> Int64 {
        let r = a % b
        return r < 0 ? r + b : r
    }
}
