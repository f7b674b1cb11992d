public import BreakerCore

/// One entry of a breaker's audit log (`history`), and the body of a `transition` event.
public struct TransitionRecord: Sendable, Hashable {
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
        w.key("from")
        w.string(from.rawValue)
        w.key("to")
        w.string(to.rawValue)
        w.key("cause")
        w.string(cause.rawValue)
        w.key("generation")
        w.integer(generation)
        w.key("at_ms")
        w.integer(atMs)
        if let by {
            w.key("by")
            w.string(by)
        }
        if let reason {
            w.key("reason")
            w.string(reason)
        }
    }
}

/// Pushed event lines: `{"event":"transition",…}` and `{"event":"deleted",…}`. Events never carry `ok`.
public enum Event {
    /// The line of a transition event.
    public static func transition(resource: String, _ record: TransitionRecord) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("event")
        w.string("transition")
        w.key("resource")
        w.string(resource)
        record.writeMembers(to: &w)
        w.endObject()
        w.newline()
        return w.bytes
    }

    /// The line of a deleted event.
    public static func deleted(resource: String) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("event")
        w.string("deleted")
        w.key("resource")
        w.string(resource)
        w.endObject()
        w.newline()
        return w.bytes
    }
}
