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
        var slow: Int = 0
    }

    /// The most distinct failing clients a time window's bucket remembers: enough to decide any
    /// `minFailingClients` (a bucket that holds this many already meets every quorum).
    public static let clientsPerBucket = BreakerPolicy.maximumFailingClients

    // Count window: a ring of failure bits, `count` entries, next write at `head`.
    let capacity: Int
    var bits: [UInt64]
    var head: Int = 0
    var count: Int = 0
    var failureCount: Int = 0

    // Time window: `buckets.count` slots of `bucketNanoseconds` each.
    let bucketNanoseconds: Int64
    var buckets: [Bucket]

    // Only for policies with a slow-call rule: a count window's slow bits (parallel to `bits`).
    let tracksSlow: Bool
    var slowBits: [UInt64] = []
    var slowCount = 0

    // Only for policies with `minFailingClients` > 1: who failed. A count window keeps each slot's client (0 for
    // a success or an unknown client) and the failures per client in the window; a time window keeps each
    // bucket's distinct failing clients (at most `clientsPerBucket`).
    let tracksClients: Bool
    var slotClients: [UInt64] = []
    var failuresByClient: [UInt64: Int] = [:]
    var bucketClients: [[UInt64]] = []

    /// An empty window of the policy's shape, remembering slow outcomes and failing clients when its rules need
    /// them.
    public init(for policy: BreakerPolicy) {
        self.init(policy.window, tracksSlow: policy.slowCall != nil, tracksClients: policy.minFailingClients > 1)
    }

    /// An empty window of `shape`. (A shape `BreakerPolicy` would reject is made harmless: a count window of
    /// fewer than 0 outcomes holds none, a time window of fewer than 1 bucket has one.) `tracksSlow` and
    /// `tracksClients` add the bookkeeping of the slow-call rule and of `minFailingClients`.
    public init(_ shape: BreakerPolicy.Window, tracksSlow: Bool = false, tracksClients: Bool = false) {
        self.tracksSlow = tracksSlow
        self.tracksClients = tracksClients
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
        if tracksSlow { slowBits = Array(repeating: 0, count: bits.count) }
        if tracksClients {
            if bucketNanoseconds > 0 {
                bucketClients = Array(repeating: [], count: buckets.count)
            } else {
                slotClients = Array(repeating: 0, count: capacity)
            }
        }
    }

    /// True for a time window.
    public var isTimeBased: Bool { bucketNanoseconds > 0 }

    /// Adds `successes` successes, then `failures` failures, at `now` (a negative count adds none).
    ///
    /// Counts saturate at `Int.max` rather than overflow, so no sequence of reports can trap; failures never
    /// exceed calls. (Reaching `Int.max` takes 2^32 reports of 2^31 − 1 outcomes each.)
    ///
    /// `slow` of them are slow: the last ones of the batch (failures first, then successes, if it is more than
    /// the failures). `client` names who reported them (0: unknown, never counted as a failing client); both
    /// are remembered only when the window tracks them.
    public mutating func record(
        successes: Int,
        failures: Int,
        slow: Int = 0,
        client: UInt64 = 0,
        now: MonotonicInstant
    ) {
        let successes = max(0, successes)
        let failures = max(0, failures)
        let slow = tracksSlow ? min(max(0, slow), successes.addingSaturated(failures)) : 0
        if isTimeBased {
            let epoch = Self.floorDivide(now.nanoseconds, bucketNanoseconds)
            let slot = Int(Self.floorModulo(epoch, Int64(buckets.count)))
            if buckets[slot].epoch != epoch {
                buckets[slot] = Bucket(epoch: epoch, calls: 0, failures: 0)
                if tracksClients { bucketClients[slot].removeAll() }
            }
            buckets[slot].calls = buckets[slot].calls.addingSaturated(successes.addingSaturated(failures))
            buckets[slot].failures = buckets[slot].failures.addingSaturated(failures)
            buckets[slot].slow = buckets[slot].slow.addingSaturated(slow)
            if tracksClients, failures > 0, client != 0, bucketClients[slot].count < Self.clientsPerBucket,
                !bucketClients[slot].contains(client)
            {
                bucketClients[slot].append(client)
            }
        } else if !tracksSlow && !tracksClients {
            push(successes, failure: false)
            push(failures, failure: true)
        } else {
            // The slow ones are the last of the batch: failures, then successes when there are more slow ones.
            let slowFailures = min(slow, failures)
            let slowSuccesses = slow - slowFailures
            pushTracked(successes - slowSuccesses, failure: false, slow: false, client: 0)
            pushTracked(slowSuccesses, failure: false, slow: true, client: 0)
            pushTracked(failures - slowFailures, failure: true, slow: false, client: client)
            pushTracked(slowFailures, failure: true, slow: true, client: client)
        }
    }

    /// Slow outcomes in the window at `now` (0 unless the window tracks them).
    public func slowCount(now: MonotonicInstant) -> Int {
        guard tracksSlow else { return 0 }
        guard isTimeBased else { return slowCount }
        var slow = 0
        forEachLiveBucket(now: now) { slow = slow.addingSaturated(buckets[$0].slow) }
        return slow
    }

    /// Distinct known clients with a failure in the window at `now` (0 unless the window tracks them; a time
    /// window counts at most `clientsPerBucket` per bucket).
    public func failingClients(now: MonotonicInstant) -> Int {
        guard tracksClients else { return 0 }
        guard isTimeBased else { return failuresByClient.count }
        var seen = Set<UInt64>()
        forEachLiveBucket(now: now) { seen.formUnion(bucketClients[$0]) }
        return seen.count
    }

    /// Calls `body` with the index of each time-window bucket that holds outcomes of the window at `now`.
    private func forEachLiveBucket(now: MonotonicInstant, _ body: (Int) -> Void) {
        let current = Self.floorDivide(now.nanoseconds, bucketNanoseconds)
        let oldest = current.subtractingSaturated(Int64(buckets.count))
        for i in buckets.indices where buckets[i].epoch > oldest && buckets[i].epoch <= current { body(i) }
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
            for i in bucketClients.indices { bucketClients[i].removeAll() }
        } else {
            for i in bits.indices { bits[i] = 0 }
            for i in slowBits.indices { slowBits[i] = 0 }
            for i in slotClients.indices { slotClients[i] = 0 }
            failuresByClient.removeAll()
            head = 0
            count = 0
            failureCount = 0
            slowCount = 0
        }
    }

    /// Pushes `n` outcomes of one kind into a count window that tracks slow outcomes or clients, one by one
    /// (at most `capacity` of them matter).
    mutating func pushTracked(_ n: Int, failure: Bool, slow: Bool, client: UInt64) {
        guard capacity > 0 else { return }
        for _ in 0..<min(max(0, n), capacity) {
            if count == capacity {
                if tracksSlow && slowBit(head) { slowCount -= 1 }
                if tracksClients && bit(head) { forgetFailure(of: slotClients[head]) }
            }
            let word = head >> 6
            let mask = UInt64(1) << UInt64(head & 63)
            if tracksSlow {
                if slow {
                    slowBits[word] |= mask
                    slowCount += 1
                } else {
                    slowBits[word] &= ~mask
                }
            }
            if tracksClients {
                slotClients[head] = failure ? client : 0
                if failure && client != 0 { failuresByClient[client, default: 0] += 1 }
            }
            push(failure: failure)
        }
    }

    private mutating func forgetFailure(of client: UInt64) {
        guard client != 0, let n = failuresByClient[client] else { return }
        if n <= 1 { failuresByClient.removeValue(forKey: client) } else { failuresByClient[client] = n - 1 }
    }

    func slowBit(_ index: Int) -> Bool { slowBits[index >> 6] & (UInt64(1) << UInt64(index & 63)) != 0 }

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
