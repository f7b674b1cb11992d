/// Durations in fixed buckets, for a Prometheus histogram: per bucket the observations at or below its upper
/// bound (not cumulative; the exposition sums them), their sum and their count.
struct DurationHistogram: Sendable {
    /// The buckets' upper bounds, in seconds (the last bucket, `+Inf`, is implied).
    static let bounds: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    /// Observations per bucket, `bounds.count + 1` of them (the last one is above every bound).
    private(set) var buckets = [Int](repeating: 0, count: DurationHistogram.bounds.count + 1)
    /// The sum of every observation, in seconds.
    private(set) var sum = 0.0
    /// How many observations there were.
    private(set) var count = 0

    /// Records one duration.
    mutating func record(_ duration: Duration) {
        let seconds = duration.inSeconds
        let i = Self.bounds.firstIndex { seconds <= $0 } ?? Self.bounds.count
        buckets[i] += 1
        sum += seconds
        count += 1
    }

    /// The cumulative count at or below each bound, then the total (for `+Inf`).
    var cumulative: [Int] {
        var running = 0
        return buckets.map {
            running += $0
            return running
        }
    }
}

extension Duration {
    /// The duration in seconds, as a `Double` (for metrics).
    var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
