import BreakerCore
import BreakerProtocol

extension RequestHandler {
    /// Writes the `stats` reply.
    func writeStats(id: RequestID?, into out: inout JSONWriter) {
        let totals = stats.totals()
        let byState = registry.countsByState()
        Reply.beginSuccess(id: id, into: &out)
        out.key("stats")
        out.beginObject()
        out.member("uptime_ms", max(0, wallClock() - stats.startedAt))
        out.member("connections", stats.currentConnections.load(ordering: .relaxed))
        out.member("connections_total", stats.totalConnections.load(ordering: .relaxed))
        out.member("watchers", hub.count)
        out.key("breakers")
        out.beginObject()
        out.member("total", registry.breakerCount)
        for state in BreakerState.allCases {
            out.dynamicKey(state.rawValue)
            out.integer(byState[state] ?? 0)
        }
        out.endObject()
        out.key("ops")
        out.beginObject()
        for (i, op) in OperationName.allCases.enumerated() {
            out.dynamicKey(op.rawValue)
            out.integer(totals.operations[i])
        }
        out.endObject()
        out.member("errors", totals.errors)
        out.member("transitions", registry.transitionsSinceStart)
        out.member("rejected_connections", stats.rejectedConnections.load(ordering: .relaxed))
        out.member("slow_consumer_disconnects", stats.slowConsumerDisconnects.load(ordering: .relaxed))
        let p = persistenceStats()
        out.key("snapshot")
        out.beginObject()
        out.member("at_ms", orNull: p.atMs)
        out.member("duration_ms", p.durationMs)
        out.member("rows", p.rows)
        out.member("count", p.count)
        out.member("failures", p.failures)
        out.endObject()
        out.member("commits", p.commits)
        out.member("commit_failures", p.commitFailures)
        out.endObject()
        Reply.end(&out)
    }
}
