public import BreakerCore
import BreakerProtocol

/// The answer to `acquire`.
public struct AcquireReply: Sendable, Hashable {
    /// True when the call may go ahead.
    public let allowed: Bool
    /// The breaker's state after the acquire.
    public let state: BreakerState
    /// The breaker's generation after the acquire.
    public let generation: UInt64
    /// The half-open probe permit, when one was granted: report with it.
    public let permit: Permit?
    /// When rejected, how long until asking again is worthwhile.
    public let retryAfter: Duration?

    init(json: JSONValue) throws(ReplyDecodingError) {
        guard case .bool(let allowed)? = json["allowed"], case .string(let s)? = json["state"],
            let state = BreakerState(rawValue: s), case .integer(let g)? = json["generation"]
        else { throw ReplyDecodingError("acquire reply without allowed/state/generation") }
        self.allowed = allowed
        self.state = state
        self.generation = UInt64(max(0, g))
        if case .string(let p)? = json["permit"] { permit = Permit(parsing: p) } else { permit = nil }
        if case .integer(let ms)? = json["retry_after_ms"] { retryAfter = .milliseconds(ms) } else { retryAfter = nil }
    }
}

/// The answer to `report`.
public struct ReportReply: Sendable, Hashable {
    /// The breaker's state after the report.
    public let state: BreakerState
    /// The breaker's generation after the report.
    public let generation: UInt64
    /// False when the outcome was not counted; `reason` says why.
    public let counted: Bool
    /// Why the outcome was not counted (`open`, `stale_permit`, …).
    public let reason: IgnoreReason?

    init(json: JSONValue) throws(ReplyDecodingError) {
        guard case .string(let s)? = json["state"], let state = BreakerState(rawValue: s),
            case .integer(let g)? = json["generation"], case .bool(let counted)? = json["counted"]
        else { throw ReplyDecodingError("report reply without state/generation/counted") }
        self.state = state
        self.generation = UInt64(max(0, g))
        self.counted = counted
        if case .string(let r)? = json["reason"] { reason = IgnoreReason(rawValue: r) } else { reason = nil }
    }
}

/// The answer to `hello`.
public struct HelloReply: Sendable, Hashable {
    public let server: String
    public let version: String
    public let protocolVersion: Int
    /// `client` or `admin`.
    public let role: String
}
