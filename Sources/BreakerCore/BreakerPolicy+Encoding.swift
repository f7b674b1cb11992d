extension BreakerPolicy {
    /// The policy as text that survives a restart (the store keeps it in its `policy` column): `key=value`
    /// items separated by `;`, every field written, for example
    /// `v=1;f=2/5;s=3/3;c=30000;w=count:5;m=5;p=3;t=10000` or, for a time window of 60 s in 60 buckets,
    /// `…;w=time:60000:60;…`.
    ///
    /// Keys: `v` format version (1), `f` failure threshold and `s` success threshold (`k/n`, not reduced; `s`
    /// left out when nil), `c` cooldown, `w` window (`count:<size>` or `time:<duration>:<buckets>`), `m` minimum
    /// calls, `p` half-open permits, `t` permit TTL; and only when they differ from their defaults: `sd` slow-call
    /// duration and `st` slow-call threshold, `cx` cooldown maximum and `cm` its multiplier, `cj` cooldown
    /// jitter, `md` mode (`shadow`), `mc` minimum failing clients. Durations are whole milliseconds, or
    /// nanoseconds with an `ns` suffix when not a whole number of milliseconds.
    public var encoded: String {
        var text = "v=1;f=\(failureThreshold)"
        if let successThreshold { text += ";s=\(successThreshold)" }
        text += ";c=" + Self.encode(cooldown)
        switch window {
        case .count(let size): text += ";w=count:\(size)"
        case .time(let duration, let buckets): text += ";w=time:" + Self.encode(duration) + ":\(buckets)"
        }
        text += ";m=\(minimumCalls);p=\(halfOpenPermits);t=" + Self.encode(permitTTL)
        if let slowCall { text += ";sd=" + Self.encode(slowCall.duration) + ";st=\(slowCall.threshold)" }
        if let growth = cooldownGrowth { text += ";cx=" + Self.encode(growth.maximum) + ";cm=\(growth.multiplier)" }
        if cooldownJitter != 0 { text += ";cj=\(cooldownJitter)" }
        if mode != .enforce { text += ";md=\(mode.rawValue)" }
        if minFailingClients != 1 { text += ";mc=\(minFailingClients)" }
        return text
    }

    /// Reads `encoded` text. Unknown keys are ignored and a missing key takes the default of
    /// `init(failureThreshold:…)` (only `f` is required), so that fields added later need no migration. Nil
    /// when the text is malformed, has a version other than 1, or describes a policy `init` rejects.
    public init?(encoded text: String) {
        var failure: Fraction?
        var success: Fraction?
        var cooldown = Self.defaultCooldown
        var window: Window?
        var minimumCalls: Int?
        var halfOpenPermits: Int?
        var permitTTL = Self.defaultPermitTTL
        var slowDuration: Duration?
        var slowThreshold: Fraction?
        var cooldownMaximum: Duration?
        var cooldownMultiplier: Double?
        var cooldownJitter = 0.0
        var mode = Mode.enforce
        var minFailingClients = 1
        for item in text.split(separator: ";") {
            guard let equals = item.firstIndex(of: "=") else { return nil }
            let key = item[..<equals]
            let value = item[item.index(after: equals)...]
            switch key {
            case "v":
                guard value == "1" else { return nil }
            case "f":
                guard let f = Fraction(parsing: value) else { return nil }
                failure = f
            case "s":
                guard let s = Fraction(parsing: value) else { return nil }
                success = s
            case "c":
                guard let c = Self.decodeDuration(value) else { return nil }
                cooldown = c
            case "w":
                guard let w = Self.decodeWindow(value) else { return nil }
                window = w
            case "m":
                guard let m = Int(value) else { return nil }
                minimumCalls = m
            case "p":
                guard let p = Int(value) else { return nil }
                halfOpenPermits = p
            case "t":
                guard let t = Self.decodeDuration(value) else { return nil }
                permitTTL = t
            case "sd":
                guard let d = Self.decodeDuration(value) else { return nil }
                slowDuration = d
            case "st":
                guard let f = Fraction(parsing: value) else { return nil }
                slowThreshold = f
            case "cx":
                guard let d = Self.decodeDuration(value) else { return nil }
                cooldownMaximum = d
            case "cm":
                guard let m = Double(value) else { return nil }
                cooldownMultiplier = m
            case "cj":
                guard let j = Double(value) else { return nil }
                cooldownJitter = j
            case "md":
                guard let m = Mode(rawValue: String(value)) else { return nil }
                mode = m
            case "mc":
                guard let n = Int(value) else { return nil }
                minFailingClients = n
            default:
                continue
            }
        }
        guard let failure,
            let policy = try? BreakerPolicy(
                failureThreshold: failure,
                successThreshold: success,
                cooldown: cooldown,
                window: window,
                minimumCalls: minimumCalls,
                halfOpenPermits: halfOpenPermits,
                permitTTL: permitTTL,
                slowCallDuration: slowDuration,
                slowCallThreshold: slowThreshold,
                cooldownMaximum: cooldownMaximum,
                cooldownMultiplier: cooldownMultiplier,
                cooldownJitter: cooldownJitter,
                mode: mode,
                minFailingClients: minFailingClients
            )
        else { return nil }
        self = policy
    }

    private static func encode(_ duration: Duration) -> String {
        let ns = duration.nanosecondsClamped
        return ns % 1_000_000 == 0 ? "\(ns / 1_000_000)" : "\(ns)ns"
    }

    private static func decodeDuration(_ text: Substring) -> Duration? {
        if text.hasSuffix("ns") {
            return Int64(text.dropLast(2)).map { .nanoseconds($0) }
        }
        return Int64(text).map { .milliseconds($0) }
    }

    private static func decodeWindow(_ text: Substring) -> Window? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        switch parts.first {
        case "count":
            guard parts.count == 2, let size = Int(parts[1]) else { return nil }
            return .count(size: size)
        case "time":
            guard parts.count == 3, let duration = decodeDuration(parts[1]), let buckets = Int(parts[2]) else {
                return nil
            }
            return .time(duration: duration, buckets: buckets)
        default:
            return nil
        }
    }
}
