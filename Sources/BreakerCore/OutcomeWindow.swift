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

    /// An empty window of the policy's shape. (A shape `BreakerPolicy` would reject is made harmless: a count
    /// window of fewer than 0 outcomes holds none, a time window of fewer than 1 bucket has one.)
    public init(_ shape: BreakerPolicy.Window) {
        switch shape {
        case .count(let size):
            capacity = max(0, size)
            bits = Array(repeating: 0, count: (capacity + 63) / 64)
            bucketNanoseconds = 0
            buckets = []
        case .time(let duration, let n):
            let n = max(1, n)
            capacity = 0
            bits = []
            bucketNanoseconds = max(1, duration.nanosecondsClamped / Int64(n))
            buckets = Array(repeating: Bucket(epoch: .min, calls: 0, failures: 0), count: n)
        }
    }

    /// True for a time window.
    public var isTimeBased: Bool { bucketNanoseconds > 0 }

    /// Adds `successes` successes, then `failures` failures, at `now` (a negative count adds none).
    ///
    /// Counts saturate at `Int.max` rather than overflow, so no sequence of reports can trap; failures never
    /// exceed calls. (Reaching `Int.max` takes 2^32 reports of 2^31 − 1 outcomes each.)
    public mutating func record(successes: Int, failures: Int, now: MonotonicInstant) {
        let successes = max(0, successes)
        let failures = max(0, failures)
        if isTimeBased {
            let epoch = Self.floorDivide(now.nanoseconds, bucketNanoseconds)
            let slot = Int(Self.floorModulo(epoch, Int64(buckets.count)))
            if buckets[slot].epoch != epoch { buckets[slot] = Bucket(epoch: epoch, calls: 0, failures: 0) }
            buckets[slot].calls = buckets[slot].calls.addingSaturated(successes.addingSaturated(failures))
            buckets[slot].failures = buckets[slot].failures.addingSaturated(failures)
        } else {
            push(successes, failure: false)
            push(failures, failure: true)
        }
    }

    /// How many outcomes the window holds at `now`, and how many of them are failures (each at most `Int.max`).
    public func totals(now: MonotonicInstant) -> (calls: Int, failures: Int) {
        guard isTimeBased else { return (count, failureCount) }
        let current = Self.floorDivide(now.nanoseconds, bucketNanoseconds)
        let oldest = current.subtractingSaturated(Int64(buckets.count))
        var calls = 0
        var failures = 0
        for bucket in buckets where bucket.epoch > oldest && bucket.epoch <= current {
            calls = calls.addingSaturated(bucket.calls)
            failures = failures.addingSaturated(bucket.failures)
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

    /// Pushes `n` outcomes of one kind: the same as `n` calls of `push(failure:)`, but for large `n` a word at a
    /// time, so that a report of 2^31 − 1 outcomes costs at most `capacity / 64` word operations. Pushing more
    /// than `capacity` is the same as pushing `capacity`.
    mutating func push(_ n: Int, failure: Bool) {
        let n = min(n, capacity)
        if n <= 8 {
            // One report (the hot path) or a few: bit by bit, as before.
            for _ in 0..<max(0, n) { push(failure: failure) }
            return
        }
        let first = min(n, capacity - head)
        // Unused slots hold 0, so the ones overwritten are failures that leave the window.
        var overwritten = assign(from: head, count: first, failure: failure)
        if n > first { overwritten += assign(from: 0, count: n - first, failure: failure) }
        failureCount += (failure ? n : 0) - overwritten
        count = min(capacity, count + n)
        head = (head + n) % capacity
    }

    /// Sets bits `start..<start + n` (within `capacity`, not wrapping) to `failure`; returns how many were set.
    mutating func assign(from start: Int, count n: Int, failure: Bool) -> Int {
        var ones = 0
        var i = start
        let end = start + n
        while i < end {
            let low = i & 63
            let width = min(64 - low, end - i)
            let mask = (width == 64 ? ~UInt64(0) : (UInt64(1) << UInt64(width)) - 1) << UInt64(low)
            ones += (bits[i >> 6] & mask).nonzeroBitCount
            if failure { bits[i >> 6] |= mask } else { bits[i >> 6] &= ~mask }
            i += width
        }
        return ones
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
