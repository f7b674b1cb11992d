import BreakerCore
import BreakerProtocol

extension RequestHandler {
    /// The server's counters now, for `stats`.
    func statsReply() -> StatsReply {
        let totals = stats.totals()
        var operations: [OperationName: Int] = [:]
        for (i, op) in OperationName.allCases.enumerated() { operations[op] = totals.operations[i] }
        let p = persistenceStats()
        return StatsReply(
            uptimeMs: max(0, wallClock() - stats.startedAt),
            connections: stats.currentConnections.load(ordering: .relaxed),
            connectionsTotal: stats.totalConnections.load(ordering: .relaxed),
            watchers: hub.count,
            breakers: StatsReply.Breakers(total: registry.breakerCount, byState: registry.countsByState()),
            operations: operations,
            errors: totals.errors,
            transitions: registry.transitionsSinceStart,
            rejectedConnections: stats.rejectedConnections.load(ordering: .relaxed),
            slowConsumerDisconnects: stats.slowConsumerDisconnects.load(ordering: .relaxed),
            snapshot: StatsReply.Snapshot(
                atMs: p.atMs,
                durationMs: p.durationMs,
                rows: p.rows,
                count: p.count,
                failures: p.failures
            ),
            commits: p.commits,
            commitFailures: p.commitFailures
        )
    }
}
