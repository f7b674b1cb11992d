import BreakerCore

extension BreakerState {
    /// The wire name (`rawValue`) as a `StaticString`, which `JSONWriter.member(_:literal:)` copies without
    /// scanning it for characters to escape (the replies to `acquire` and `report` write it on every request).
    var wireName: StaticString {
        switch self {
        case .closed: "closed"
        case .open: "open"
        case .halfOpen: "half_open"
        case .forcedOpen: "forced_open"
        case .forcedClosed: "forced_closed"
        }
    }
}
