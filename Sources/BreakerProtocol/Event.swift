public import BreakerCore

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
