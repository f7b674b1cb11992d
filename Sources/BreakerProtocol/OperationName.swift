/// The operations of protocol v1, by their wire names (`lease` was added in breakerd 0.3.0).
public enum OperationName: String, Sendable, Hashable, CaseIterable {
    case ping, hello, acquire, report, status, list, configure, force, release, reset, delete, watch, unwatch,
        history, stats, lease

    /// True for the operations only the admin role may use.
    public var requiresAdmin: Bool {
        switch self {
        case .configure, .force, .release, .reset, .delete: true
        default: false
        }
    }
}
