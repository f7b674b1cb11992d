import BreakerCore

/// A pushed event line (after `watch`, or for a resource the connection holds a `lease` on):
/// `{"event":"transition","resource":…,"from":…,"to":…,"cause":…,"generation":…,"at_ms":…`
/// `[,"by":…][,"reason":…][,"shadow":true]}` or `{"event":"deleted","resource":…}`. Events never carry `ok`.
public enum BreakerEvent: Sendable, Hashable {
    /// A breaker changed state.
    case transition(resource: String, TransitionRecord)
    /// A breaker was deleted.
    case deleted(resource: String)

    /// The resource the event is about.
    public var resource: String {
        switch self {
        case .transition(let r, _), .deleted(let r): r
        }
    }

    /// Writes the whole event line, newline included.
    public func write(into w: inout JSONWriter) {
        w.beginObject()
        switch self {
        case .transition(let resource, let record):
            w.member("event", "transition")
            w.member("resource", resource)
            record.writeMembers(to: &w)
        case .deleted(let resource):
            w.member("event", "deleted")
            w.member("resource", resource)
        }
        w.endObject()
        w.newline()
    }

    /// Decodes an event line's object; nil for an event kind this version does not know (ignore it). Unknown
    /// members are ignored.
    public init?(json: JSONValue) throws(ReplyDecodingError) {
        switch json["event"] {
        case .string("transition")?:
            self = .transition(resource: try json.string("resource"), try TransitionRecord(json: json))
        case .string("deleted")?: self = .deleted(resource: try json.string("resource"))
        default: return nil
        }
    }
}
