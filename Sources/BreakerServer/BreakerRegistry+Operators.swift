import BreakerClock
import BreakerCore
import BreakerProtocol
import BreakerStore
import Synchronization

extension BreakerRegistry {
    // MARK: Operators

    /// Creates or reconfigures a breaker.
    func configure(
        _ resource: String,
        policy: BreakerPolicy,
        by: String?
    ) throws(ProtocolError)
        -> RegistryResult<BreakerInfo>
    {
        try withEntry(resource, creatingWith: policy, by: by) { entry, isNew, now in
            var transitions: [BreakerTransition] = []
            if !isNew, let t = entry.machine.configure(policy, now: now) { transitions = [t] }
            return Step((), transitions: transitions, changed: true, durable: true)
        } finish: { entry, now, _ in
            self.info(resource, entry, now: now)
        }
    }

    /// Forces a breaker open or closed. The result's `expiry` is when the force ends by itself (with a TTL).
    func force(
        _ resource: String,
        target: BreakerForce.Target,
        reason: String?,
        ttl: Duration?,
        by: String?
    ) throws(ProtocolError) -> RegistryResult<(info: BreakerInfo, expiry: MonotonicInstant?)> {
        var expiry: MonotonicInstant?
        let result = try withExisting(resource, by: by, reason: reason) { entry, now in
            let t = entry.machine.force(target, ttl: ttl, reason: reason, by: by, now: now)
            expiry = entry.machine.nextExpiry
            return [t]
        }
        return RegistryResult(value: (result.value, expiry), change: result.change)
    }

    /// Ends a force.
    func release(_ resource: String, by: String?) throws(ProtocolError) -> RegistryResult<BreakerInfo> {
        try withExisting(resource, by: by, reason: nil) { entry, now in
            [entry.machine.release(now: now)].compactMap { $0 }
        }
    }

    /// Returns a breaker to closed with an empty window.
    func reset(_ resource: String, by: String?) throws(ProtocolError) -> RegistryResult<BreakerInfo> {
        try withExisting(resource, by: by, reason: nil) { entry, now in [entry.machine.reset(now: now)] }
    }

    /// Removes a breaker. The value is false when there was none.
    func delete(_ resource: String) -> RegistryResult<Bool> {
        let index = shardIndex(for: resource)
        let change = shards[index].state.withLock { s -> BreakerChange? in
            guard s.entries.removeValue(forKey: resource) != nil else { return nil }
            defer { s.nextSequence &+= 1 }
            return BreakerChange(
                resource: resource,
                transitions: [],
                deleted: true,
                durable: .delete(resource: resource),
                shard: index,
                sequence: s.nextSequence
            )
        }
        if change != nil { count.subtract(1, ordering: .relaxed) }
        return RegistryResult(value: change != nil, change: change)
    }

    /// Applies the passage of time to one breaker (a force whose TTL ended). Nil when nothing changed.
    func expire(_ resource: String) -> BreakerChange? {
        let index = shardIndex(for: resource)
        return shards[index].state.withLock { s -> BreakerChange? in
            guard let i = s.entries.index(forKey: resource) else { return nil }
            let now = clock.now
            guard let t = s.entries.values[i].machine.expire(now: now) else { return nil }
            return record(resource, [t], in: &s, at: i, shard: index, now: now, by: nil, reason: nil)
        }
    }
}
