public import BreakerCore

/// The reply to `acquire`: `{"id":…,"ok":true,"allowed":…,"state":…,"generation":…}`, with `"permit"` when a
/// half-open probe permit was granted, `"retry_after_ms"` when the call was rejected, and `"would_allow":false`
/// when a breaker in shadow mode allowed a call that enforce mode would have rejected.
public struct AcquireReply: Sendable, Hashable {
    /// True when the call may go ahead.
    public var allowed: Bool
    /// The breaker's state after the acquire.
    public var state: BreakerState
    /// The breaker's generation after the acquire.
    public var generation: UInt64
    /// The half-open probe permit, when one was granted: report with it.
    public var permit: Permit?
    /// When rejected, how long until asking again is worthwhile (written in whole milliseconds, rounded up).
    public var retryAfter: Duration?
    /// False when the breaker is in shadow mode and enforce mode would have rejected the call (`allowed` is then
    /// true, with neither a permit nor `retryAfter`); true otherwise (and left out of the line).
    public var wouldAllow: Bool

    /// Creates the reply.
    public init(
        allowed: Bool,
        state: BreakerState,
        generation: UInt64,
        permit: Permit?,
        retryAfter: Duration?,
        wouldAllow: Bool = true
    ) {
        self.allowed = allowed
        self.state = state
        self.generation = generation
        self.permit = permit
        self.retryAfter = retryAfter
        self.wouldAllow = wouldAllow
    }

    /// Writes the whole reply line, newline included. `retry_after_ms` is never negative.
    public func write(id: RequestID?, into w: inout JSONWriter) {
        Reply.beginSuccess(id: id, into: &w)
        w.member("allowed", allowed)
        w.member("state", literal: state.wireName)
        w.member("generation", generation)
        if let permit {
            w.member("permit", permit.description)
        }
        if let retryAfter {
            w.member("retry_after_ms", max(retryAfter.millisecondsRoundedUp, 0))
        }
        if !wouldAllow {
            w.member("would_allow", false)
        }
        Reply.end(&w)
    }

    /// Decodes a reply object; unknown members are ignored. `wouldAllow` is false only when `would_allow` is
    /// `false`.
    public init(json: JSONValue) throws(ReplyDecodingError) {
        var permit: Permit?
        switch json["permit"] {
        case nil, .null?: permit = nil
        case .string(let text)?:
            guard let p = Permit(parsing: text) else {
                throw ReplyDecodingError("'permit' is not \"<generation>.<sequence>\": \"\(text)\"")
            }
            permit = p
        case .some:
            throw ReplyDecodingError("'permit' is not a string")
        }
        self.init(
            allowed: try json.bool("allowed"),
            state: try json.state("state"),
            generation: try json.generation(),
            permit: permit,
            retryAfter: json.optionalInt("retry_after_ms").map { .milliseconds($0) },
            wouldAllow: json["would_allow"] != .bool(false)
        )
    }
}
