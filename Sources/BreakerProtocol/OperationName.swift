/// The operations of protocol v1, by their wire names (`lease` was added in breakerd 0.2.0, `cluster` in 0.4.0).
public enum OperationName: String, Sendable, Hashable, CaseIterable {
    case ping, hello, acquire, report, status, list, configure, force, release, reset, delete, watch, unwatch,
        history, stats, lease, cluster

    /// True for the operations a cluster replica answers whether or not it leads.
    public var answeredByEveryReplica: Bool { self == .ping || self == .hello || self == .cluster }

    /// True for the operations only the admin role may use.
    public var requiresAdmin: Bool {
        switch self {
        case .configure, .force, .release, .reset, .delete: true
        default: false
        }
    }
}
