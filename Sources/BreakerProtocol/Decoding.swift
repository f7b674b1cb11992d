import BreakerCore

/// A reply or event that does not have the shape protocol v1 gives it.
public struct ReplyDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was wrong, naming the member.
    public let message: String
    /// Creates the error.
    public init(_ message: String) { self.message = message }
    public var description: String { "malformed reply: \(message)" }
}

extension JSONValue {
    func required(_ key: String) throws(ReplyDecodingError) -> JSONValue {
        guard let v = self[key] else { throw ReplyDecodingError("missing '\(key)'") }
        return v
    }

    func int(_ key: String) throws(ReplyDecodingError) -> Int64 {
        guard case .integer(let i) = try required(key) else { throw ReplyDecodingError("'\(key)' is not an integer") }
        return i
    }

    func optionalInt(_ key: String) -> Int64? {
        if case .integer(let i)? = self[key] { return i }
        return nil
    }

    func string(_ key: String) throws(ReplyDecodingError) -> String {
        guard case .string(let s) = try required(key) else { throw ReplyDecodingError("'\(key)' is not a string") }
        return s
    }

    func optionalString(_ key: String) -> String? {
        if case .string(let s)? = self[key] { return s }
        return nil
    }

    func bool(_ key: String) throws(ReplyDecodingError) -> Bool {
        guard case .bool(let b) = try required(key) else { throw ReplyDecodingError("'\(key)' is not a boolean") }
        return b
    }

    /// A generation (written as a non-negative integer).
    func generation(_ key: String = "generation") throws(ReplyDecodingError) -> UInt64 {
        UInt64(max(0, try int(key)))
    }

    /// A count (an integer that fits in `Int`).
    func count(_ key: String) throws(ReplyDecodingError) -> Int {
        Int(clamping: try int(key))
    }

    /// The member `key`, which must be an array.
    func array(_ key: String) throws(ReplyDecodingError) -> [JSONValue] {
        guard case .array(let items) = try required(key) else { throw ReplyDecodingError("'\(key)' is not an array") }
        return items
    }

    /// The member `key`, which must be an object.
    func object(_ key: String) throws(ReplyDecodingError) -> JSONValue {
        let value = try required(key)
        guard case .object = value else { throw ReplyDecodingError("'\(key)' is not an object") }
        return value
    }

    func state(_ key: String) throws(ReplyDecodingError) -> BreakerState {
        let s = try string(key)
        guard let state = BreakerState(rawValue: s) else { throw ReplyDecodingError("unknown state \"\(s)\"") }
        return state
    }
}

extension TransitionRecord {
    /// Decodes a transition (a `history` entry or the body of a `transition` event); `shadow` is true only when
    /// the member is `true`.
    public init(json: JSONValue) throws(ReplyDecodingError) {
        let causeText = try json.string("cause")
        guard let cause = TransitionCause(rawValue: causeText) else {
            throw ReplyDecodingError("unknown cause \"\(causeText)\"")
        }
        self.init(
            from: try json.state("from"),
            to: try json.state("to"),
            cause: cause,
            generation: UInt64(max(0, try json.int("generation"))),
            atMs: try json.int("at_ms"),
            by: json.optionalString("by"),
            reason: json.optionalString("reason"),
            shadow: json["shadow"] == .bool(true)
        )
    }
}

extension BreakerInfo {
    /// Decodes a breaker object. Members that a server before breakerd 0.3.0 did not send take their defaults
    /// (`cooldown_ms_current`: the policy's cooldown; the window's `slow` and `failing_clients`: 0).
    public init(json: JSONValue) throws(ReplyDecodingError) {
        let policy: BreakerPolicy
        do {
            policy = try WirePolicy.decode(try json.required("policy"))
        } catch let error as ReplyDecodingError {
            throw error
        } catch {
            throw ReplyDecodingError("policy: \(error)")
        }
        let window = try json.required("window")
        var forced: Forced?
        if let f = json["forced"], case .object = f {
            let target = try f.string("state")
            forced = Forced(
                state: target == "open" ? .open : .closed,
                reason: f.optionalString("reason"),
                by: f.optionalString("by"),
                remainingMs: f.optionalInt("remaining_ms")
            )
        }
        var halfOpen: HalfOpen?
        if let h = json["half_open"], case .object = h {
            halfOpen = HalfOpen(
                permitsOut: Int(try h.int("permits_out")),
                successes: Int(try h.int("successes")),
                failures: Int(try h.int("failures"))
            )
        }
        self.init(
            resource: try json.string("resource"),
            state: try json.state("state"),
            generation: UInt64(max(0, try json.int("generation"))),
            policy: policy,
            windowCalls: Int(try window.int("calls")),
            windowFailures: Int(try window.int("failures")),
            retryAfterMs: json.optionalInt("retry_after_ms"),
            forced: forced,
            halfOpen: halfOpen,
            changedAtMs: try json.int("changed_at_ms"),
            leases: json.optionalInt("leases").map { Int(clamping: $0) },
            windowSlow: window.optionalInt("slow").map { Int(clamping: $0) } ?? 0,
            windowFailingClients: window.optionalInt("failing_clients").map { Int(clamping: $0) } ?? 0,
            cooldownCurrentMs: json.optionalInt("cooldown_ms_current")
        )
    }
}
