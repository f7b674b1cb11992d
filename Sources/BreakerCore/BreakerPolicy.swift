/// How a breaker decides: when to trip, how long to stay open, how to probe.
///
/// Every value is checked when the policy is made; an impossible one throws `BreakerPolicyError` naming the
/// field. Defaults follow the seeds' Python library: with only `failureThreshold: k/n` given, the breaker trips
/// when, of the last `n` calls (window full), at least `k` failed.
public struct BreakerPolicy: Sendable, Hashable {
    /// Whether the breaker's decisions are enforced.
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        /// `acquire` rejects what the state machine rejects.
        case enforce
        /// The state machine runs as in enforce mode (transitions, events, history, metrics), but `acquire`
        /// always allows, saying `wouldAllow: false` where enforce mode would have rejected.
        case shadow
    }

    /// The slow-call rule: outcomes that took at least `duration` are slow; trip when slow/calls in the window
    /// reaches `threshold` (and the window holds at least `minimumCalls`).
    public struct SlowCallRule: Sendable, Hashable {
        /// An outcome that took at least this long is slow.
        public var duration: Duration
        /// Trip when slow/calls in the window reaches this.
        public var threshold: Fraction

        /// A rule: outcomes of at least `duration` are slow; `threshold` of them trip the breaker.
        public init(duration: Duration, threshold: Fraction) {
            self.duration = duration
            self.threshold = threshold
        }
    }

    /// A cooldown that grows each time half-open fails, up to `maximum`; back to `cooldown` once closed.
    public struct CooldownGrowth: Sendable, Hashable {
        /// The longest cooldown.
        public var maximum: Duration
        /// What each failed half-open multiplies the cooldown by (1.0 to 10.0).
        public var multiplier: Double

        /// Each failed half-open multiplies the cooldown by `multiplier`, up to `maximum`.
        public init(maximum: Duration, multiplier: Double) {
            self.maximum = maximum
            self.multiplier = multiplier
        }
    }

    /// How outcomes are remembered while closed.
    public enum Window: Sendable, Hashable {
        /// The last `size` outcomes.
        case count(size: Int)
        /// The outcomes of the last `duration`, kept in `buckets` equal buckets (the oldest bucket is dropped
        /// whole as time moves on).
        case time(duration: Duration, buckets: Int)
    }

    /// Largest count window, bucket count and half-open permit count the policy accepts (memory is bounded
    /// per breaker because the server accepts policies from clients).
    public static let maximumWindowSize = 100_000
    /// Largest number of buckets in a time window.
    public static let maximumBuckets = 1_000
    /// Largest number of half-open probe permits.
    public static let maximumHalfOpenPermits = 10_000
    /// Largest `minFailingClients`.
    public static let maximumFailingClients = 1_000
    /// The multiplier of a growing cooldown that names none.
    public static let defaultCooldownMultiplier = 2.0
    /// Longest cooldown, permit TTL or time window: 30 days.
    public static let maximumDuration = Duration.seconds(30 * 24 * 3600)
    /// Shortest bucket of a time window: 1 ms.
    public static let minimumBucketDuration = Duration.milliseconds(1)
    /// The cooldown of a policy that names none: 30 s.
    public static let defaultCooldown = Duration.seconds(30)
    /// The permit TTL of a policy that names none: 10 s.
    public static let defaultPermitTTL = Duration.seconds(10)

    /// The values, in one immutable object shared by every copy: a policy is copied with every request and
    /// held by every breaker, and most breakers share a few policies (copying is a reference count; a million
    /// breakers with the default policy hold one set of values).
    final class Storage: Sendable, Hashable {
        let failureThreshold: Fraction
        let successThreshold: Fraction?
        let cooldown: Duration
        let window: Window
        let minimumCalls: Int
        let halfOpenPermits: Int
        let permitTTL: Duration
        let slowCall: SlowCallRule?
        let cooldownGrowth: CooldownGrowth?
        let cooldownJitter: Double
        let mode: Mode
        let minFailingClients: Int

        init(
            failureThreshold: Fraction,
            successThreshold: Fraction?,
            cooldown: Duration,
            window: Window,
            minimumCalls: Int,
            halfOpenPermits: Int,
            permitTTL: Duration,
            slowCall: SlowCallRule?,
            cooldownGrowth: CooldownGrowth?,
            cooldownJitter: Double,
            mode: Mode,
            minFailingClients: Int
        ) {
            self.failureThreshold = failureThreshold
            self.successThreshold = successThreshold
            self.cooldown = cooldown
            self.window = window
            self.minimumCalls = minimumCalls
            self.halfOpenPermits = halfOpenPermits
            self.permitTTL = permitTTL
            self.slowCall = slowCall
            self.cooldownGrowth = cooldownGrowth
            self.cooldownJitter = cooldownJitter
            self.mode = mode
            self.minFailingClients = minFailingClients
        }

        static func == (a: Storage, b: Storage) -> Bool {
            a === b
                || (a.failureThreshold == b.failureThreshold && a.successThreshold == b.successThreshold
                    && a.cooldown == b.cooldown && a.window == b.window && a.minimumCalls == b.minimumCalls
                    && a.halfOpenPermits == b.halfOpenPermits && a.permitTTL == b.permitTTL
                    && a.slowCall == b.slowCall && a.cooldownGrowth == b.cooldownGrowth
                    && a.cooldownJitter == b.cooldownJitter && a.mode == b.mode
                    && a.minFailingClients == b.minFailingClients)
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(failureThreshold)
            hasher.combine(successThreshold)
            hasher.combine(cooldown)
            hasher.combine(window)
            hasher.combine(minimumCalls)
            hasher.combine(halfOpenPermits)
            hasher.combine(permitTTL)
            hasher.combine(slowCall)
            hasher.combine(cooldownGrowth)
            hasher.combine(cooldownJitter)
            hasher.combine(mode)
            hasher.combine(minFailingClients)
        }
    }

    private let storage: Storage

    /// Trip when failures/calls in the window reach this fraction (`k/n`, not reduced; `n` is the default
    /// window size).
    public var failureThreshold: Fraction { storage.failureThreshold }
    /// In half-open, close when successes/probes reach this fraction; nil uses the failure threshold instead.
    public var successThreshold: Fraction? { storage.successThreshold }
    /// How long the breaker stays open before it grants a probe.
    public var cooldown: Duration { storage.cooldown }
    /// How outcomes are remembered while closed.
    public var window: Window { storage.window }
    /// The fewest outcomes the window must hold before it may trip.
    public var minimumCalls: Int { storage.minimumCalls }
    /// Probe permits granted in total in one half-open period.
    public var halfOpenPermits: Int { storage.halfOpenPermits }
    /// How long a probe permit stays valid without a report; then its slot may be granted again.
    public var permitTTL: Duration { storage.permitTTL }
    /// The slow-call rule (`slow_call_ms`, `slow_call_threshold`), or nil for none.
    public var slowCall: SlowCallRule? { storage.slowCall }
    /// The growing cooldown (`cooldown_max_ms`, `cooldown_multiplier`), or nil for a fixed one.
    public var cooldownGrowth: CooldownGrowth? { storage.cooldownGrowth }
    /// Each cooldown is scaled by a random factor in [1 − jitter, 1 + jitter] (0 to 1; 0: none).
    public var cooldownJitter: Double { storage.cooldownJitter }
    /// Enforce or shadow.
    public var mode: Mode { storage.mode }
    /// The failure rule trips only when the window's failures came from at least this many distinct clients
    /// (1 to 1,000; 1: any).
    public var minFailingClients: Int { storage.minFailingClients }

    /// Creates a policy, checking every value.
    ///
    /// - Parameters:
    ///   - failureThreshold: `k/n` with `1 ≤ k ≤ n`.
    ///   - successThreshold: `k/n` with `1 ≤ k ≤ n`, or nil.
    ///   - cooldown: 0 to 30 days (default 30 s).
    ///   - window: default `.count(size: failureThreshold.denominator)`.
    ///   - minimumCalls: default the count window's size, or `failureThreshold.denominator` for a time window.
    ///     At least 1, and for a count window at most its size.
    ///   - halfOpenPermits: default `successThreshold.denominator` when set, else `failureThreshold.denominator`.
    ///   - permitTTL: more than 0, at most 30 days (default 10 s).
    ///   - slowCallDuration: with `slowCallThreshold` (both or neither): an outcome that took at least this
    ///     long (more than 0, at most 30 days) is slow.
    ///   - slowCallThreshold: `k/n`, trip when slow/calls in the window reaches it.
    ///   - cooldownMaximum: grow the cooldown after each failed half-open, up to this (at least `cooldown`, at
    ///     most 30 days); nil: a fixed cooldown.
    ///   - cooldownMultiplier: 1.0 to 10.0 (default 2.0); only with `cooldownMaximum`.
    ///   - cooldownJitter: 0 to 1 (default 0).
    ///   - mode: default `.enforce`.
    ///   - minFailingClients: 1 to 1,000 (default 1).
    public init(
        failureThreshold: Fraction,
        successThreshold: Fraction? = nil,
        cooldown: Duration = BreakerPolicy.defaultCooldown,
        window: Window? = nil,
        minimumCalls: Int? = nil,
        halfOpenPermits: Int? = nil,
        permitTTL: Duration = BreakerPolicy.defaultPermitTTL,
        slowCallDuration: Duration? = nil,
        slowCallThreshold: Fraction? = nil,
        cooldownMaximum: Duration? = nil,
        cooldownMultiplier: Double? = nil,
        cooldownJitter: Double = 0,
        mode: Mode = .enforce,
        minFailingClients: Int = 1
    ) throws(BreakerPolicyError) {
        try Self.check(failureThreshold, field: "failure_threshold")
        if let successThreshold { try Self.check(successThreshold, field: "success_threshold") }
        try Self.check(cooldown, field: "cooldown_ms", allowZero: true)
        try Self.check(permitTTL, field: "permit_ttl_ms", allowZero: false)

        let window = window ?? .count(size: failureThreshold.denominator)
        switch window {
        case .count(let size):
            guard size >= 1, size <= Self.maximumWindowSize else {
                throw BreakerPolicyError(
                    field: "window.size",
                    message: "the count window must hold 1 to \(Self.maximumWindowSize) calls, got \(size)"
                )
            }
        case .time(let duration, let buckets):
            guard buckets >= 1, buckets <= Self.maximumBuckets else {
                throw BreakerPolicyError(
                    field: "window.buckets",
                    message: "a time window needs 1 to \(Self.maximumBuckets) buckets, got \(buckets)"
                )
            }
            try Self.check(duration, field: "window.ms", allowZero: false)
            guard duration / buckets >= Self.minimumBucketDuration else {
                throw BreakerPolicyError(
                    field: "window.ms",
                    message:
                        "each of the \(buckets) buckets must span at least 1 ms; use a longer window or fewer buckets"
                )
            }
        }

        let minimumCalls = minimumCalls ?? window.defaultMinimumCalls(failureThreshold: failureThreshold)
        guard minimumCalls >= 1 else {
            throw BreakerPolicyError(field: "minimum_calls", message: "must be at least 1, got \(minimumCalls)")
        }
        if case .count(let size) = window, minimumCalls > size {
            throw BreakerPolicyError(
                field: "minimum_calls",
                message:
                    "\(minimumCalls) is more than the count window holds (\(size)), so the breaker could never trip"
            )
        }

        let halfOpenPermits = halfOpenPermits ?? (successThreshold ?? failureThreshold).denominator
        guard halfOpenPermits >= 1, halfOpenPermits <= Self.maximumHalfOpenPermits else {
            throw BreakerPolicyError(
                field: "half_open_permits",
                message: "must be 1 to \(Self.maximumHalfOpenPermits), got \(halfOpenPermits)"
            )
        }

        let slowCall = try Self.slowCallRule(slowCallDuration, slowCallThreshold)
        let growth = try Self.cooldownGrowth(
            cooldown: cooldown,
            maximum: cooldownMaximum,
            multiplier: cooldownMultiplier
        )
        guard cooldownJitter >= 0, cooldownJitter <= 1 else {
            throw BreakerPolicyError(field: "cooldown_jitter", message: "must be from 0 to 1, got \(cooldownJitter)")
        }
        guard minFailingClients >= 1, minFailingClients <= Self.maximumFailingClients else {
            throw BreakerPolicyError(
                field: "min_failing_clients",
                message: "must be 1 to \(Self.maximumFailingClients), got \(minFailingClients)"
            )
        }

        self.storage = Storage(
            failureThreshold: failureThreshold,
            successThreshold: successThreshold,
            cooldown: cooldown,
            window: window,
            minimumCalls: minimumCalls,
            halfOpenPermits: halfOpenPermits,
            permitTTL: permitTTL,
            slowCall: slowCall,
            cooldownGrowth: growth,
            cooldownJitter: cooldownJitter,
            mode: mode,
            minFailingClients: minFailingClients
        )
    }

    private static func slowCallRule(
        _ duration: Duration?,
        _ threshold: Fraction?
    ) throws(BreakerPolicyError) -> SlowCallRule? {
        switch (duration, threshold) {
        case (nil, nil):
            return nil
        case (let duration?, let threshold?):
            try check(duration, field: "slow_call_ms", allowZero: false)
            try check(threshold, field: "slow_call_threshold")
            return SlowCallRule(duration: duration, threshold: threshold)
        case (nil, _?):
            throw BreakerPolicyError(
                field: "slow_call_ms",
                message: "slow_call_threshold needs slow_call_ms: how long (ms) an outcome takes to count as slow"
            )
        case (_?, nil):
            throw BreakerPolicyError(
                field: "slow_call_threshold",
                message: "slow_call_ms needs slow_call_threshold: the k/n of slow calls that trips the breaker"
            )
        }
    }

    private static func cooldownGrowth(
        cooldown: Duration,
        maximum: Duration?,
        multiplier: Double?
    ) throws(BreakerPolicyError) -> CooldownGrowth? {
        guard let maximum else {
            guard multiplier == nil else {
                throw BreakerPolicyError(
                    field: "cooldown_multiplier",
                    message: "cooldown_multiplier needs cooldown_max_ms: the longest the cooldown may grow to"
                )
            }
            return nil
        }
        try check(maximum, field: "cooldown_max_ms", allowZero: false)
        guard maximum >= cooldown else {
            throw BreakerPolicyError(
                field: "cooldown_max_ms",
                message: "must be at least cooldown_ms (\(cooldown)), got \(maximum)"
            )
        }
        let multiplier = multiplier ?? defaultCooldownMultiplier
        guard multiplier >= 1, multiplier <= 10 else {
            throw BreakerPolicyError(
                field: "cooldown_multiplier",
                message: "must be from 1.0 to 10.0, got \(multiplier)"
            )
        }
        return CooldownGrowth(maximum: maximum, multiplier: multiplier)
    }

    /// Two policies are equal when every field is.
    public static func == (a: BreakerPolicy, b: BreakerPolicy) -> Bool { a.storage == b.storage }

    /// Hashes every field.
    public func hash(into hasher: inout Hasher) { storage.hash(into: &hasher) }

    /// The count window's size, or nil for a time window.
    public var countWindowSize: Int? {
        if case .count(let size) = window { return size }
        return nil
    }

    private static func check(_ fraction: Fraction, field: String) throws(BreakerPolicyError) {
        guard fraction.denominator >= 1 else {
            throw BreakerPolicyError(field: field, message: "the denominator of \(fraction) must be at least 1")
        }
        guard fraction.numerator >= 1, fraction.numerator <= fraction.denominator else {
            throw BreakerPolicyError(
                field: field,
                message: "\(fraction) must be k/n with 1 ≤ k ≤ n (for example 2/5: 2 of the last 5 calls)"
            )
        }
        guard fraction.denominator <= maximumWindowSize else {
            throw BreakerPolicyError(
                field: field,
                message: "the denominator of \(fraction) must be at most \(maximumWindowSize)"
            )
        }
    }

    private static func check(_ duration: Duration, field: String, allowZero: Bool) throws(BreakerPolicyError) {
        guard duration > .zero || (allowZero && duration == .zero) else {
            throw BreakerPolicyError(
                field: field,
                message: "must be \(allowZero ? "0 or more" : "more than 0"), got \(duration)"
            )
        }
        guard duration <= maximumDuration else {
            throw BreakerPolicyError(field: field, message: "must be at most 30 days, got \(duration)")
        }
    }
}

extension BreakerPolicy.Window {
    fileprivate func defaultMinimumCalls(failureThreshold: Fraction) -> Int {
        switch self {
        case .count(let size): size
        case .time: failureThreshold.denominator
        }
    }
}
