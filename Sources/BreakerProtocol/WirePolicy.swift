public import BreakerCore

/// The policy object of protocol v1: decoding with errors that name the field, and encoding of the full
/// effective policy.
///
/// ```json
/// {"failure_threshold":"2/5","success_threshold":"3/3","cooldown_ms":30000,
///  "window":{"type":"count","size":5},"minimum_calls":5,"half_open_permits":3,"permit_ttl_ms":10000,
///  "slow_call_ms":2000,"slow_call_threshold":"3/5","cooldown_max_ms":240000,"cooldown_multiplier":2.0,
///  "cooldown_jitter":0.1,"mode":"shadow","min_failing_clients":2}
/// ```
/// Every field but `failure_threshold` may be left out and takes BreakerCore's default.
public enum WirePolicy {
    /// Decodes a policy object; `field` is the name used in errors (`policy`).
    public static func decode(_ value: JSONValue, field: String = "policy") throws(ProtocolError) -> BreakerPolicy {
        guard case .object = value else {
            throw ProtocolError(.invalidPolicy, "\(field) must be an object, got \(value.typeName)")
        }
        func fraction(_ name: String, required: Bool) throws(ProtocolError) -> Fraction? {
            switch value[name] {
            case nil, .null?:
                if required {
                    throw ProtocolError(
                        .invalidPolicy,
                        "\(field).\(name) is required, as \"k/n\" (for example \"2/5\")"
                    )
                }
                return nil
            case .string(let s)?:
                guard let f = Fraction(parsing: s) else {
                    throw ProtocolError(
                        .invalidPolicy,
                        "\(field).\(name) must be \"k/n\" (for example \"2/5\"), got \"\(s)\""
                    )
                }
                return f
            case let other?:
                throw ProtocolError(.invalidPolicy, "\(field).\(name) must be a string \"k/n\", got \(other.typeName)")
            }
        }
        func integer(_ object: JSONValue, _ name: String, path: String) throws(ProtocolError) -> Int64? {
            switch object[name] {
            case nil, .null?: return nil
            case .integer(let i)?: return i
            case .number(let d)?:
                throw ProtocolError(
                    .invalidPolicy,
                    d.isInfinite || d == d.rounded()
                        ? "\(path).\(name) is out of range: expected a whole number from 0 to \(Int64.max)"
                        : "\(path).\(name) must be a whole number, got \(d)"
                )
            case let other?:
                throw ProtocolError(.invalidPolicy, "\(path).\(name) must be a whole number, got \(other.typeName)")
            }
        }
        func milliseconds(_ name: String) throws(ProtocolError) -> Duration? {
            try integer(value, name, path: field).map { .milliseconds($0) }
        }
        func count(_ name: String) throws(ProtocolError) -> Int? {
            try integer(value, name, path: field).map { Int(clamping: $0) }
        }
        func number(_ name: String) throws(ProtocolError) -> Double? {
            switch value[name] {
            case nil, .null?: return nil
            case .integer(let i)?: return Double(i)
            case .number(let d)?: return d
            case let other?:
                throw ProtocolError(.invalidPolicy, "\(field).\(name) must be a number, got \(other.typeName)")
            }
        }
        func mode() throws(ProtocolError) -> BreakerPolicy.Mode {
            let choices = "\"enforce\" or \"shadow\""
            switch value["mode"] {
            case nil, .null?: return .enforce
            case .string(let s)?:
                guard let mode = BreakerPolicy.Mode(rawValue: s) else {
                    throw ProtocolError(.invalidPolicy, "\(field).mode must be \(choices), got \"\(s)\"")
                }
                return mode
            case let other?:
                throw ProtocolError(.invalidPolicy, "\(field).mode must be \(choices), got \(other.typeName)")
            }
        }

        let failure = try fraction("failure_threshold", required: true)!
        let success = try fraction("success_threshold", required: false)
        let window: BreakerPolicy.Window?
        switch value["window"] {
        case nil, .null?: window = nil
        case .object?:
            let w = value["window"]!
            let path = "\(field).window"
            switch w["type"] {
            case .string("count")?:
                guard let size = try integer(w, "size", path: path) else {
                    throw ProtocolError(.invalidPolicy, "\(path).size is required for a count window")
                }
                window = .count(size: Int(clamping: size))
            case .string("time")?:
                guard let ms = try integer(w, "ms", path: path) else {
                    throw ProtocolError(.invalidPolicy, "\(path).ms is required for a time window")
                }
                guard let buckets = try integer(w, "buckets", path: path) else {
                    throw ProtocolError(.invalidPolicy, "\(path).buckets is required for a time window")
                }
                window = .time(duration: .milliseconds(ms), buckets: Int(clamping: buckets))
            default:
                throw ProtocolError(.invalidPolicy, "\(path).type must be \"count\" or \"time\"")
            }
        case let other?:
            throw ProtocolError(.invalidPolicy, "\(field).window must be an object, got \(other.typeName)")
        }
        do {
            return try BreakerPolicy(
                failureThreshold: failure,
                successThreshold: success,
                cooldown: try milliseconds("cooldown_ms") ?? BreakerPolicy.defaultCooldown,
                window: window,
                minimumCalls: try count("minimum_calls"),
                halfOpenPermits: try count("half_open_permits"),
                permitTTL: try milliseconds("permit_ttl_ms") ?? BreakerPolicy.defaultPermitTTL,
                slowCallDuration: try milliseconds("slow_call_ms"),
                slowCallThreshold: try fraction("slow_call_threshold", required: false),
                cooldownMaximum: try milliseconds("cooldown_max_ms"),
                cooldownMultiplier: try number("cooldown_multiplier"),
                cooldownJitter: try number("cooldown_jitter") ?? 0,
                mode: try mode(),
                minFailingClients: try count("min_failing_clients") ?? 1
            )
        } catch let error as BreakerPolicyError {
            throw ProtocolError(.invalidPolicy, problem(error, in: value, field: field))
        } catch let error as ProtocolError {
            throw error
        } catch {
            throw ProtocolError(.invalidPolicy, "\(field): \(error)")
        }
    }

    /// Where the default of a field that was left out comes from, for errors about a value the user never sent.
    static let derivedDefaults: [String: String] = [
        "half_open_permits": "success_threshold's n, else failure_threshold's n",
        "minimum_calls": "the window's size for a count window, failure_threshold's n for a time window",
        "window.size": "failure_threshold's n",
        "window": "a count window of failure_threshold's n",
        "slow_call_ms": "no slow-call rule",
        "slow_call_threshold": "no slow-call rule",
        "cooldown_max_ms": "a cooldown that does not grow",
    ]

    /// The message for a policy the core refused: it names the field the user sent, or, when the field was
    /// left out, says which default the bad value came from and how to fix it.
    static func problem(_ error: BreakerPolicyError, in value: JSONValue, field: String) -> String {
        let path = error.field.split(separator: ".").map(String.init)
        var sent: JSONValue? = value
        for part in path { sent = sent?[part] }
        if sent != nil && sent != .null {
            return "\(field).\(error.field): \(error.message)"
        }
        let origin = derivedDefaults[error.field].map { "its default, \($0)" } ?? "its default"
        return "\(field).\(error.field) was not given, and \(origin), does not work: \(error.message). "
            + "Give \(error.field) explicitly"
    }

    /// Decodes a policy from JSON text (for `--default-policy`).
    public static func decode(text: String) throws(ProtocolError) -> BreakerPolicy {
        let value: JSONValue
        do {
            value = try JSONParser.parse(Array(text.utf8))
        } catch {
            throw ProtocolError(.invalidPolicy, "the policy is not JSON: \(error)")
        }
        return try decode(value)
    }

    /// Writes the full effective policy as an object: every field of protocol 1's first revision, then
    /// `cooldown_jitter`, `mode` and `min_failing_clients` always, and the slow-call rule (`slow_call_ms`,
    /// `slow_call_threshold`) and the growing cooldown (`cooldown_max_ms`, `cooldown_multiplier`) when set.
    /// Fractional numbers are written in their shortest form that reads back the same (`2.0`, `0.25`).
    public static func write(_ policy: BreakerPolicy, to w: inout JSONWriter) {
        w.beginObject()
        w.member("failure_threshold", policy.failureThreshold.description)
        w.key("success_threshold")
        if let s = policy.successThreshold { w.string(s.description) } else { w.null() }
        w.member("cooldown_ms", policy.cooldown.millisecondsRoundedUp)
        w.key("window")
        w.beginObject()
        switch policy.window {
        case .count(let size):
            w.member("type", "count")
            w.member("size", size)
        case .time(let duration, let buckets):
            w.member("type", "time")
            w.member("ms", duration.millisecondsRoundedUp)
            w.member("buckets", buckets)
        }
        w.endObject()
        w.member("minimum_calls", policy.minimumCalls)
        w.member("half_open_permits", policy.halfOpenPermits)
        w.member("permit_ttl_ms", policy.permitTTL.millisecondsRoundedUp)
        if let slowCall = policy.slowCall {
            w.member("slow_call_ms", slowCall.duration.millisecondsRoundedUp)
            w.member("slow_call_threshold", slowCall.threshold.description)
        }
        if let growth = policy.cooldownGrowth {
            w.member("cooldown_max_ms", growth.maximum.millisecondsRoundedUp)
            w.key("cooldown_multiplier")
            w.value(.number(growth.multiplier))
        }
        w.key("cooldown_jitter")
        w.value(.number(policy.cooldownJitter))
        w.member("mode", policy.mode.rawValue)
        w.member("min_failing_clients", policy.minFailingClients)
        w.endObject()
    }
}
