/// Exponential backoff between retries: attempt `a` (1 for the first retry) waits
/// `minDelay · factor^(a−1)`, moved up or down by up to `jitter` of itself (uniformly), then capped at
/// `maxDelay`.
public struct Backoff: Sendable, Hashable {
    /// The first retry's delay (before jitter).
    public let minDelay: Duration
    /// No delay is longer than this.
    public let maxDelay: Duration
    /// Each retry waits this many times as long as the one before (before jitter). At least 1.
    public let factor: Double
    /// The fraction of each delay to spread it by, up or down: 0 (none) to 1 (anywhere from 0 to twice).
    public let jitter: Double

    /// Creates a backoff, checking every value.
    ///
    /// - Throws: `ConfigurationError` when `minDelay` is negative, `maxDelay` is below `minDelay`, `factor` is
    ///   below 1 or not finite, or `jitter` is outside 0...1.
    public init(minDelay: Duration, maxDelay: Duration, factor: Double = 2, jitter: Double = 0) throws {
        guard minDelay >= .zero else {
            throw ConfigurationError.invalidValue("minDelay", "must be 0 or more, got \(minDelay)")
        }
        guard maxDelay >= minDelay else {
            throw ConfigurationError.invalidValue(
                "maxDelay",
                "must be at least minDelay (\(minDelay)), got \(maxDelay)"
            )
        }
        guard factor.isFinite, factor >= 1 else {
            throw ConfigurationError.invalidValue("factor", "must be a finite number of at least 1, got \(factor)")
        }
        guard jitter.isFinite, (0...1).contains(jitter) else {
            throw ConfigurationError.invalidValue(
                "jitter",
                "must be between 0 and 1 (a fraction of each delay), got \(jitter)"
            )
        }
        self.minDelay = minDelay
        self.maxDelay = maxDelay
        self.factor = factor
        self.jitter = jitter
    }

    /// The delay before retry number `attempt` (1-based), with `unitRandom` a number in `0..<1` that places the
    /// delay within the jitter band (0.5 is its middle: no jitter).
    public func delay(forAttempt attempt: Int, unitRandom: Double) -> Duration {
        let base = minDelay.seconds * pow(factor, Double(max(attempt, 1) - 1))
        let spread = base * jitter * (2 * min(max(unitRandom, 0), 1) - 1)
        let seconds = min(max(base + spread, 0), maxDelay.seconds)
        return seconds.isFinite ? .nanoseconds(Int64((seconds * 1e9).rounded())) : maxDelay
    }

    /// The delay before retry number `attempt` (1-based), with the jitter drawn from the system's generator.
    public func delay(forAttempt attempt: Int) -> Duration {
        delay(forAttempt: attempt, unitRandom: jitter == 0 ? 0.5 : Double.random(in: 0..<1))
    }
}

extension Duration {
    /// This duration in seconds, as a floating-point number.
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}

private func pow(_ base: Double, _ exponent: Double) -> Double {
    // Repeated squaring keeps this free of Foundation; exponents here are small whole numbers.
    var result = 1.0
    var b = base
    var e = Int(exponent)
    while e > 0 {
        if e & 1 == 1 { result *= b }
        b *= b
        e >>= 1
        if result.isInfinite { break }
    }
    return result
}
