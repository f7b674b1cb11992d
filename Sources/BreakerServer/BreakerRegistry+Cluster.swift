import BreakerCore

extension BreakerRegistry {
    /// Replaces every breaker with `records`: the state a new cluster leader loaded from etcd, before it serves
    /// (issue #19). What this replica held from an earlier term is dropped, not merged: etcd is the truth.
    func replaceAll(with records: [ClusterRecord]) -> Restored {
        for shard in shards { shard.state.withLock { $0.entries.removeAll(keepingCapacity: true) } }
        count.store(0, ordering: .relaxed)
        var history: [String: [TransitionRecord]] = [:]
        for r in records where !r.recent.isEmpty { history[r.row.resource] = r.recent }
        return restore(records.map(\.row), history: history)
    }
}
