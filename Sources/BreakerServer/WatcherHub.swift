import BreakerClock
import BreakerCore
import BreakerProtocol
import Synchronization

/// Who receives which events, and delivery of event lines to them through their event loops: connections that
/// watch a prefix, and connections that hold a lease on a resource (until `leaseDuration` after their last
/// `lease` entry for it, on the server's monotonic clock).
final class WatcherHub: Sendable {
    private struct State: Sendable {
        var watchers: [ConnectionKey: String] = [:]
        var leases: LeaseTable
    }

    private let state: Mutex<State>
    private let clock: any MonotonicClock
    /// How long after its last entry for a resource a connection receives the resource's events.
    let leaseDuration: Duration
    private let deliver: @Sendable (ConnectionKey, [UInt8]) -> Void

    /// - Parameters:
    ///   - clock: the clock lease expiries run on.
    ///   - leaseDuration: `--lease-ms`.
    ///   - maximumLeasesPerConnection: the most resources one connection holds leases on; past it the ones it
    ///     renewed longest ago are dropped.
    ///   - deliver: hands an event line to the connection's event loop.
    init(
        clock: any MonotonicClock,
        leaseDuration: Duration,
        maximumLeasesPerConnection: Int = 10_000,
        deliver: @escaping @Sendable (ConnectionKey, [UInt8]) -> Void
    ) {
        self.state = Mutex(State(leases: LeaseTable(maximumPerConnection: maximumLeasesPerConnection)))
        self.clock = clock
        self.leaseDuration = leaseDuration
        self.deliver = deliver
    }

    func watch(_ key: ConnectionKey, prefix: String) {
        state.withLock { $0.watchers[key] = prefix }
    }

    func unwatch(_ key: ConnectionKey) {
        _ = state.withLock { $0.watchers.removeValue(forKey: key) }
    }

    /// Connections watching now.
    var count: Int { state.withLock { $0.watchers.count } }

    /// Gives `key` a lease on each of `resources` (renewing the ones it holds) for `leaseDuration` from now.
    func lease(_ key: ConnectionKey, _ resources: [String]) {
        guard !resources.isEmpty else { return }
        let now = clock.now
        let expiry = now + leaseDuration
        state.withLock { $0.leases.renew(key, resources, until: expiry, now: now) }
    }

    /// How many connections hold a live lease on `resource`.
    func leaseCount(_ resource: String) -> Int {
        let now = clock.now
        return state.withLock { $0.leases.liveCount(of: resource, now: now) }
    }

    /// Forgets a closed connection: its watch and its leases.
    func connectionClosed(_ key: ConnectionKey) {
        state.withLock { s in
            s.watchers.removeValue(forKey: key)
            s.leases.remove(key)
        }
    }

    /// Sends `event` to every watcher whose prefix its resource starts with and to every connection with a live
    /// lease on it, once each (the line is written once, and only when someone receives it). Expired leases on
    /// the resource are dropped.
    func broadcast(_ event: BreakerEvent) {
        let resource = event.resource
        let now = clock.now
        let keys = state.withLock { s -> [ConnectionKey] in
            let watching = s.watchers.compactMap { resource.hasPrefix($0.value) ? $0.key : nil }
            let leasing = s.leases.liveHolders(of: resource, now: now)
            if leasing.isEmpty { return watching }
            if watching.isEmpty { return leasing }
            return Array(Set(watching).union(leasing))
        }
        guard !keys.isEmpty else { return }
        var w = JSONWriter()
        event.write(into: &w)
        for key in keys { deliver(key, w.bytes) }
    }
}
