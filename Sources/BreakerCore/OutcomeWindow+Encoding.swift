extension OutcomeWindow {
    /// The window's contents as text that survives a restart (the monotonic clock does not):
    /// a count window as `c:` and its outcomes oldest first (`S`/`F`); a time window as `t:` and each non-empty
    /// bucket as `age,calls,failures` (age in buckets before the current one), separated by `;`.
    public func encoded(now: MonotonicInstant) -> String {
        if isTimeBased {
            let current = Self.floorDivide(now.nanoseconds, bucketNanoseconds)
            let parts = buckets.compactMap { b -> String? in
                let age = current.subtractingSaturated(b.epoch)
                guard b.calls > 0, age >= 0, age < Int64(buckets.count) else { return nil }
                return "\(age),\(b.calls),\(b.failures)"
            }
            return "t:" + parts.joined(separator: ";")
        }
        return "c:" + String(outcomes.map { $0 == .failure ? "F" : "S" })
    }

    /// Restores a window of `shape` from `encoded(now:)` text written `elapsed` ago (time windows age by it).
    /// Nil when the text does not fit the shape (see `fits(_:shape:)`).
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
            guard isTimeBased, let parts = Self.timeBuckets(text.dropFirst(2)) else { return nil }
            let current = Self.floorDivide(now.nanoseconds, bucketNanoseconds)
            let aged = max(0, elapsed.nanosecondsClamped) / bucketNanoseconds
            for part in parts {
                let age = part.age.addingSaturated(aged)
                guard age < Int64(buckets.count) else { continue }
                let epoch = current.subtractingSaturated(age)
                let slot = Int(Self.floorModulo(epoch, Int64(buckets.count)))
                buckets[slot] = Bucket(epoch: epoch, calls: Int(part.calls), failures: Int(part.failures))
            }
        } else {
            return nil
        }
    }

    /// True when `text` is `encoded(now:)` text of a window of `shape`: `c:` and only `S`/`F` for a count
    /// window, `t:` and `age,calls,failures` buckets with `0 ≤ failures ≤ calls` and `age ≥ 0` for a time window.
    /// Exactly the texts `init?(_:decoding:now:elapsed:)` accepts; checks without building the window.
    public static func fits(_ text: String, shape: BreakerPolicy.Window) -> Bool {
        let timeBased = if case .time = shape { true } else { false }
        if text.hasPrefix("c:") {
            return !timeBased
                && text.utf8.dropFirst(2).allSatisfy { $0 == UInt8(ascii: "S") || $0 == UInt8(ascii: "F") }
        }
        if text.hasPrefix("t:") {
            return timeBased && timeBuckets(text.dropFirst(2)) != nil
        }
        return false
    }

    /// The buckets of a time window's text (after `t:`), or nil when one is malformed.
    private static func timeBuckets(_ body: Substring) -> [(age: Int64, calls: Int64, failures: Int64)]? {
        var out: [(age: Int64, calls: Int64, failures: Int64)] = []
        for part in body.split(separator: ";") {
            let fields = part.split(separator: ",", omittingEmptySubsequences: false).map { Int64($0) }
            guard fields.count == 3, let age = fields[0], let calls = fields[1], let failures = fields[2],
                age >= 0, calls >= failures, failures >= 0
            else { return nil }
            out.append((age, calls, failures))
        }
        return out
    }
}
