extension OutcomeWindow {
    /// The window's contents as text that survives a restart (the monotonic clock does not):
    /// a count window as `c:` and its outcomes oldest first (`S`/`F`); a time window as `t:` and each non-empty
    /// bucket as `age,calls,failures` (age in buckets before the current one), separated by `;`.
    public func encoded(now: MonotonicInstant) -> String {
        if isTimeBased {
            let current = Self.floorDivide(now.nanoseconds, bucketNanoseconds)
            let parts = buckets.compactMap { b -> String? in
                let age = current &- b.epoch
                guard b.calls > 0, age >= 0, age < Int64(buckets.count) else { return nil }
                return "\(age),\(b.calls),\(b.failures)"
            }
            return "t:" + parts.joined(separator: ";")
        }
        return "c:" + String(outcomes.map { $0 == .failure ? "F" : "S" })
    }

    /// Restores a window of `shape` from `encoded(now:)` text written `elapsed` ago (time windows age by it).
    /// Nil when the text does not fit the shape (the caller starts with an empty window).
    public init?(_ shape: BreakerPolicy.Window, decoding text: String, now: MonotonicInstant, elapsed: Duration) {
        self.init(shape)
        if text.hasPrefix("c:") {
            guard !isTimeBased else { return nil }
            for ch in text.dropFirst(2) {
                switch ch {
                case "S": push(failure: false)
                case "F": push(failure: true)
                default: return nil
                }
            }
        } else if text.hasPrefix("t:") {
            guard isTimeBased else { return nil }
            let current = Self.floorDivide(now.nanoseconds, bucketNanoseconds)
            let aged = max(0, elapsed.nanosecondsClamped) / bucketNanoseconds
            for part in text.dropFirst(2).split(separator: ";") {
                let fields = part.split(separator: ",").compactMap { Int64($0) }
                guard fields.count == 3, fields[0] >= 0, fields[1] >= fields[2], fields[2] >= 0 else { return nil }
                let age = fields[0] &+ aged
                guard age < Int64(buckets.count) else { continue }
                let epoch = current &- age
                let slot = Int(Self.floorModulo(epoch, Int64(buckets.count)))
                buckets[slot] = Bucket(epoch: epoch, calls: Int(fields[1]), failures: Int(fields[2]))
            }
        } else {
            return nil
        }
    }
}
