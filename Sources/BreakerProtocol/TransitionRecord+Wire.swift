public import BreakerCore

extension TransitionRecord {
    /// Writes the record's members into an object already begun: `shadow` only when true.
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
        if shadow {
            w.member("shadow", true)
        }
    }
}
