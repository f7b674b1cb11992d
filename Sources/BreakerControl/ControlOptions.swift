public import BreakerCore
import HighwayBreaker

/// Parsing of `breakerctl`'s option values, with messages that say what a valid value looks like.
public enum ControlOptions {
    /// The default server address.
    public static let defaultServer = "127.0.0.1:7433"

    /// `HOST:PORT` or `[IPv6]:PORT` (the client's own parser, with breakerctl's message).
    public static func server(_ text: String) throws(ControlFailure) -> (host: String, port: Int) {
        guard let server = BreakerClient.Configuration.Server(parsing: text) else {
            throw ControlFailure(
                exitCode: ControlFailure.usage,
                message: "--server \(text): expected HOST:PORT, for example 127.0.0.1:7433"
            )
        }
        return (server.host, server.port)
    }

    /// A duration such as `10m`, `30s`, `1h30m`, `500ms`.
    public static func duration(_ text: String, option: String) throws(ControlFailure) -> Duration {
        guard let d = DurationText.parse(text), d > .zero else {
            throw ControlFailure(
                exitCode: ControlFailure.usage,
                message: "\(option) \(text): expected a duration such as 30s, 10m, 1h30m or 500ms"
            )
        }
        return d
    }

    /// `k/n`.
    public static func fraction(_ text: String, option: String) throws(ControlFailure) -> Fraction {
        guard let f = Fraction(parsing: text) else {
            throw ControlFailure(
                exitCode: ControlFailure.usage,
                message: "\(option) \(text): expected k/n, for example 2/5 (2 of the last 5 calls)"
            )
        }
        return f
    }

    /// `N` (the last N calls) or `T/B` (the last T in B buckets, for example `10s/10`).
    public static func window(_ text: String) throws(ControlFailure) -> BreakerPolicy.Window {
        if let n = Int(text) { return .count(size: n) }
        let parts = text.split(separator: "/")
        if parts.count == 2, let t = DurationText.parse(String(parts[0])), let b = Int(parts[1]) {
            return .time(duration: t, buckets: b)
        }
        throw ControlFailure(
            exitCode: ControlFailure.usage,
            message:
                "--window \(text): expected N (the last N calls, e.g. 20) or T/B (the last T in B buckets, e.g. 10s/10)"
        )
    }

    /// A policy from `configure`'s options; BreakerCore checks the values and names the field at fault.
    ///
    /// - Parameters:
    ///   - slowCallMs: `--slow-call-ms`: a call taking at least this many milliseconds is slow.
    ///   - slowCallThreshold: `--slow-call-threshold`: `k/n` slow calls trip the breaker.
    ///   - cooldownMax: `--cooldown-max`: the longest the cooldown grows to (a duration such as `10m`).
    ///   - cooldownMultiplier: `--cooldown-multiplier`: 1.0 to 10.0 (default 2.0 with `--cooldown-max`).
    ///   - cooldownJitter: `--cooldown-jitter`: 0 to 1.
    ///   - shadow: `--shadow`: shadow mode (calls are never rejected).
    ///   - minFailingClients: `--min-failing-clients`: 1 to 1,000.
    public static func policy(
        failureThreshold: String,
        successThreshold: String?,
        cooldown: String?,
        window: String?,
        minCalls: Int?,
        halfOpenPermits: Int?,
        permitTTL: String?,
        slowCallMs: Int? = nil,
        slowCallThreshold: String? = nil,
        cooldownMax: String? = nil,
        cooldownMultiplier: Double? = nil,
        cooldownJitter: Double? = nil,
        shadow: Bool = false,
        minFailingClients: Int? = nil
    ) throws(ControlFailure) -> BreakerPolicy {
        let f = try fraction(failureThreshold, option: "--failure-threshold")
        let s = try successThreshold.map { (t) throws(ControlFailure) in try fraction(t, option: "--success-threshold")
        }
        let c = try cooldown.map { (t) throws(ControlFailure) in try durationAllowingZero(t, option: "--cooldown") }
        let w = try window.map { (t) throws(ControlFailure) in try Self.window(t) }
        let ttl = try permitTTL.map { (t) throws(ControlFailure) in try duration(t, option: "--permit-ttl") }
        let slowThreshold = try slowCallThreshold.map { (t) throws(ControlFailure) in
            try fraction(t, option: "--slow-call-threshold")
        }
        let maximum = try cooldownMax.map { (t) throws(ControlFailure) in try duration(t, option: "--cooldown-max") }
        do {
            return try BreakerPolicy(
                failureThreshold: f,
                successThreshold: s,
                cooldown: c ?? .seconds(30),
                window: w,
                minimumCalls: minCalls,
                halfOpenPermits: halfOpenPermits,
                permitTTL: ttl ?? .seconds(10),
                slowCallDuration: slowCallMs.map { .milliseconds($0) },
                slowCallThreshold: slowThreshold,
                cooldownMaximum: maximum,
                cooldownMultiplier: cooldownMultiplier,
                cooldownJitter: cooldownJitter ?? 0,
                mode: shadow ? .shadow : .enforce,
                minFailingClients: minFailingClients ?? 1
            )
        } catch {
            throw ControlFailure(
                exitCode: ControlFailure.usage,
                message: "\(optionName(error.field)): \(error.message)"
            )
        }
    }

    private static func durationAllowingZero(_ text: String, option: String) throws(ControlFailure) -> Duration {
        if text == "0" { return .zero }
        return try duration(text, option: option)
    }

    private static func optionName(_ field: String) -> String {
        switch field {
        case "failure_threshold": "--failure-threshold"
        case "success_threshold": "--success-threshold"
        case "cooldown_ms": "--cooldown"
        case "minimum_calls": "--min-calls"
        case "half_open_permits": "--half-open-permits"
        case "permit_ttl_ms": "--permit-ttl"
        case "slow_call_ms": "--slow-call-ms"
        case "slow_call_threshold": "--slow-call-threshold"
        case "cooldown_max_ms": "--cooldown-max"
        case "cooldown_multiplier": "--cooldown-multiplier"
        case "cooldown_jitter": "--cooldown-jitter"
        case "min_failing_clients": "--min-failing-clients"
        default: "--window"
        }
    }
}
