import BreakerCore

/// Which connections hold a lease on which resource, and until when: the exact-name subscriptions that
/// `lease` makes. No I/O and no clock reads: every method takes the instant.
///
/// A lease is live while `now < expiry`. Bounded: expired leases are dropped when their resource's events are
/// looked up and when a connection closes, and a connection holds at most `maximumPerConnection` names (past it,
/// the ones it renewed longest ago are dropped).
struct LeaseTable: Sendable {
    /// One connection's lease on one resource.
    private struct Held: Sendable {
        var expiry: MonotonicInstant
        /// The connection's renewal count when this lease was last renewed: the oldest is dropped first.
        var stamp: UInt64
    }

    /// One connection's leases.
    private struct Holder: Sendable {
        var names: [String: Held] = [:]
        var renewals: UInt64 = 0
    }

    /// The most resources one connection holds leases on at once.
    let maximumPerConnection: Int
    /// Resource → connection → when its lease ends.
    private var holders: [String: [ConnectionKey: MonotonicInstant]] = [:]
    /// Connection → its leases.
    private var byConnection: [ConnectionKey: Holder] = [:]

    init(maximumPerConnection: Int = 10_000) {
        self.maximumPerConnection = max(1, maximumPerConnection)
    }

    /// How many resources have at least one lease recorded (live or not yet dropped).
    var resourceCount: Int { holders.count }

    /// How many leases `key` has recorded (live or not yet dropped).
    func count(of key: ConnectionKey) -> Int { byConnection[key]?.names.count ?? 0 }

    /// Gives (or renews) `key` a lease on each of `resources`, ending at `expiry`; then drops its expired leases
    /// and, past `maximumPerConnection`, the ones it renewed longest ago.
    mutating func renew(
        _ key: ConnectionKey,
        _ resources: some Sequence<String>,
        until expiry: MonotonicInstant,
        now: MonotonicInstant
    ) {
        var holder = byConnection.removeValue(forKey: key) ?? Holder()
        for resource in resources {
            holder.renewals &+= 1
            holder.names[resource] = Held(expiry: expiry, stamp: holder.renewals)
            holders[resource, default: [:]][key] = expiry
        }
        if holder.names.count > maximumPerConnection {
            for (name, held) in holder.names where held.expiry <= now {
                holder.names.removeValue(forKey: name)
                forget(key, name)
            }
        }
        if holder.names.count > maximumPerConnection {
            let oldest = holder.names.sorted { $0.value.stamp < $1.value.stamp }.prefix(
                holder.names.count - maximumPerConnection
            )
            for (name, _) in oldest {
                holder.names.removeValue(forKey: name)
                forget(key, name)
            }
        }
        if !holder.names.isEmpty { byConnection[key] = holder }
    }

    /// The connections with a live lease on `resource`; expired leases on it are dropped.
    mutating func liveHolders(of resource: String, now: MonotonicInstant) -> [ConnectionKey] {
        guard var keys = holders[resource] else { return [] }
        var live: [ConnectionKey] = []
        for (key, expiry) in keys {
            if now < expiry {
                live.append(key)
            } else {
                keys.removeValue(forKey: key)
                byConnection[key]?.names.removeValue(forKey: resource)
                if byConnection[key]?.names.isEmpty == true { byConnection.removeValue(forKey: key) }
            }
        }
        holders[resource] = keys.isEmpty ? nil : keys
        return live
    }

    /// How many connections hold a live lease on `resource` (nothing is dropped).
    func liveCount(of resource: String, now: MonotonicInstant) -> Int {
        guard let keys = holders[resource] else { return 0 }
        return keys.values.reduce(0) { $0 + (now < $1 ? 1 : 0) }
    }

    /// Drops every lease of `key` (the connection closed).
    mutating func remove(_ key: ConnectionKey) {
        guard let holder = byConnection.removeValue(forKey: key) else { return }
        for name in holder.names.keys { forget(key, name) }
    }

    /// Removes `key` from `resource`'s holders.
    private mutating func forget(_ key: ConnectionKey, _ resource: String) {
        guard var keys = holders[resource] else { return }
        keys.removeValue(forKey: key)
        holders[resource] = keys.isEmpty ? nil : keys
    }
}
