public import BreakerCore

/// The reply to `report`: `{"id":…,"ok":true,"state":…,"generation":…,"counted":…}`, with `"reason"` when
/// the outcome was not counted. (A `report` with `noreply` gets no reply.)
public struct ReportReply: Sendable, Hashable {
    /// The breaker's state after the report.
    public var state: BreakerState
    /// The breaker's generation after the report.
    public var generation: UInt64
    /// False when the outcome was not counted; `reason` says why.
    public var counted: Bool
    /// Why the outcome was not counted (`open`, `stale_permit`, …); nil when it was counted, or for a reason
    /// this version does not know.
    public var reason: IgnoreReason?

    /// Creates the reply.
    public init(state: BreakerState, generation: UInt64, counted: Bool, reason: IgnoreReason?) {
        self.state = state
        self.generation = generation
        self.counted = counted
        self.reason = reason
    }

    /// Writes the whole reply line, newline included.
    public func write(id: RequestID?, into w: inout JSONWriter) {
        Reply.beginSuccess(id: id, into: &w)
        w.member("state", literal: state.wireName)
        w.member("generation", generation)
        w.member("counted", counted)
        if let reason {
            w.member("reason", reason.rawValue)
        }
        Reply.end(&w)
    }

    /// Decodes a reply object; unknown members are ignored.
    public init(json: JSONValue) throws(ReplyDecodingError) {
        self.init(
            state: try json.state("state"),
            generation: try json.generation(),
            counted: try json.bool("counted"),
            reason: json.optionalString("reason").flatMap(IgnoreReason.init(rawValue:))
        )
    }
}
