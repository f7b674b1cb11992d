/// A connection's role: what it may do. The token sent in `hello` grants it; `hello`'s reply names it.
public enum Role: String, Sendable, Hashable, CaseIterable {
    /// acquire, report, status, list, watch, history, stats.
    case client
    /// Everything, including configure, force, release, reset and delete.
    case admin
}
