public import BreakerCore

/// One entry of a breaker's audit log (`history`), and the body of a `transition` event.
public struct TransitionRecord: Sendable, Hashable {
    /// The most audit-log entries kept per breaker, in memory and in the database (and the most `history`
    /// returns).
    public static let retentionLimit = 1_000

    public var from: BreakerState
    public var to: BreakerState
    public var cause: TransitionCause
    public var generation: UInt64
    /// When it happened, in milliseconds since the Unix epoch.
    public var atMs: Int64
    /// Who caused it, for operator actions (the connection's client name or role).
    public var by: String?
    /// Why, for operator actions that gave a reason.
    public var reason: String?

    public init(
        from: BreakerState, to: BreakerState, cause: TransitionCause, generation: UInt64, atMs: Int64,
        by: String? = nil, reason: String? = nil
    ) {
        self.from = from
        self.to = to
        self.cause = cause
        self.generation = generation
        self.atMs = atMs
        self.by = by
        self.reason = reason
    }

    /// Writes the record's members into an object already begun.
    public func writeMembers(to w: inout JSONWriter) {
        w.member("from", from.rawValue)
        w.member("to", to.rawValue)
        w.member("cause", cause.rawValue)
        w.member("generation", generation)
        w.member("at_ms", atMs)
        if let by {
            w.member("by", by)
        }
        if let reason {
            w.member("reason", reason)
        }
    }
}

/// Pushed event lines: `{"event":"transition",…}` and `{"event":"deleted",…}`. Events never carry `ok`.
public enum Event {
    /// The line of a transition event.
    public static func transition(resource: String, _ record: TransitionRecord) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.member("event", "transition")
        w.member("resource", resource)
        record.writeMembers(to: &w)
        w.endObject()
        w.newline()
        return w.bytes
    }

    /// The line of a deleted event.
    public static func deleted(resource: String) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.member("event", "deleted")
        w.member("resource", resource)
        w.endObject()
        w.newline()
        return w.bytes
    }
}
