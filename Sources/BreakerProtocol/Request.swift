public import BreakerCore

/// One decoded request line.
public struct Request: Sendable, Hashable {
    /// Echoed in the reply.
    public var id: RequestID?
    /// What to do.
    public var operation: Operation

    /// Creates a request.
    public init(id: RequestID? = nil, _ operation: Operation) {
        self.id = id
        self.operation = operation
    }

    /// What a `report` carries: one outcome (with its permit), or counts of outcomes without permits, `slow` of
    /// them (the last ones of the batch) slow.
    public enum ReportKind: Sendable, Hashable {
        case outcome(Outcome, permit: Permit?)
        case batch(successes: Int, failures: Int, slow: Int = 0)
    }

    /// A request's operation and its fields, already validated.
    public enum Operation: Sendable, Hashable {
        case ping
        case hello(token: String?, client: String?, protocolVersion: Int?)
        case acquire(resource: String, policy: BreakerPolicy?)
        /// `durationMs`: how long the call took; a single outcome is slow when it is at least the policy's
        /// `slow_call_ms`.
        case report(resource: String, kind: ReportKind, policy: BreakerPolicy?, durationMs: Int64?, noreply: Bool)
        /// Reports outcomes counted locally and asks for leases: one entry per resource, at most
        /// `Request.maximumLeaseEntries`, answered in order (an `.invalid` entry fails alone).
        case lease(entries: [LeaseEntry])
        case status(resource: String)
        /// One page of breakers whose names start with `prefix`, sorted by name: those after `after` (nil: from
        /// the first), at most `limit` of them.
        case list(prefix: String, after: String?, limit: Int)
        case configure(resource: String, policy: BreakerPolicy)
        case force(resource: String, target: BreakerForce.Target, reason: String?, ttl: Duration?)
        case release(resource: String)
        case reset(resource: String)
        case delete(resource: String)
        case watch(prefix: String)
        case unwatch
        case history(resource: String, limit: Int)
        case stats
        /// The replica's view of its cluster (cluster mode), or that it is a single server.
        case cluster

        /// The wire name.
        public var name: OperationName {
            switch self {
            case .ping: .ping
            case .hello: .hello
            case .acquire: .acquire
            case .report: .report
            case .lease: .lease
            case .status: .status
            case .list: .list
            case .configure: .configure
            case .force: .force
            case .release: .release
            case .reset: .reset
            case .delete: .delete
            case .watch: .watch
            case .unwatch: .unwatch
            case .history: .history
            case .stats: .stats
            case .cluster: .cluster
            }
        }
    }
}
