import BreakerCore
import BreakerProtocol

extension BreakerRegistry {
    // MARK: Reading

    /// The breaker object of `resource`, or nil.
    public func status(_ resource: String) -> BreakerInfo? {
        shards[shardIndex(for: resource)].state.withLock { s in
            s.entries[resource].map { info(resource, $0, now: clock.now) }
        }
    }

    /// One page of the breakers whose names start with `prefix`, sorted by name (by their UTF-8 bytes): the
    /// first `limit` after `after` (nil: from the first), and the name to continue after when more remain.
    /// Only the page's breakers are copied; the names are chosen with a bounded buffer, so a page costs one
    /// pass over the breakers whatever their number.
    public func list(
        prefix: String,
        after: String? = nil,
        limit: Int = .max
    ) -> (breakers: [BreakerInfo], next: String?) {
        let keep = limit == .max ? Int.max : limit + 1
        var names: [String] = []
        var ceiling: String?
        for shard in shards {
            shard.state.withLock { s in
                for name in s.entries.keys where name.hasPrefix(prefix) {
                    if let after, !Self.precedes(after, name) { continue }
                    if let ceiling, !Self.precedes(name, ceiling) { continue }
                    names.append(name)
                    if names.count >= 2 * keep {
                        names.sort(by: Self.precedes)
                        names.removeLast(names.count - keep)
                        ceiling = names.last
                    }
                }
            }
        }
        names.sort(by: Self.precedes)
        var next: String?
        if names.count > limit {
            names.removeLast(names.count - limit)
            next = names.last
        }
        var out: [BreakerInfo] = []
        out.reserveCapacity(names.count)
        for name in names {
            shards[shardIndex(for: name)].state.withLock { s in
                if let entry = s.entries[name] { out.append(info(name, entry, now: clock.now)) }
            }
        }
        return (out, next)
    }

    /// Name order: by UTF-8 bytes (resource names are ASCII, so this is also their character order).
    static func precedes(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    /// The newest `limit` transitions of `resource` held in memory, newest first, and whether older ones may
    /// be on disk only; nil when there is no such breaker.
    public func recentHistory(_ resource: String, limit: Int) -> (records: [TransitionRecord], more: Bool)? {
        shards[shardIndex(for: resource)].state.withLock { s in
            s.entries[resource].map { ($0.recent(limit), $0.historyMayContinueOnDisk) }
        }
    }

    /// How many breakers are in each state.
    public func countsByState() -> [BreakerState: Int] {
        var counts: [BreakerState: Int] = [:]
        for shard in shards {
            shard.state.withLock { s in
                for entry in s.entries.values { counts[entry.machine.state, default: 0] += 1 }
            }
        }
        return counts
    }
}

extension BreakerRegistry {
    /// One breaker's figures for `/metrics`.
    struct MetricsRow: Sendable {
        var resource: String
        var state: BreakerState
        var windowCalls: Int
        var windowFailures: Int
    }

    /// At most `limit` breakers for per-resource metrics: those not closed first, then closed ones, each group by
    /// name. Under each shard's lock only the names that may still make the cut are copied out; sorting happens
    /// outside the locks (an `acquire` on the shard never waits for it), and memory stays within a shard's names
    /// plus twice `limit`.
    func metricsRows(limit: Int) -> [MetricsRow] {
        guard limit > 0 else { return [] }
        typealias Key = (closed: Bool, name: String)
        // Sort key: not-closed (false) before closed (true), then name.
        func precedes(_ a: Key, _ b: Key) -> Bool {
            a.closed != b.closed ? !a.closed : Self.precedes(a.name, b.name)
        }
        var chosen: [Key] = []
        var ceiling: Key?
        for shard in shards {
            let candidates = shard.state.withLock { s -> [Key] in
                var out: [Key] = []
                for (name, entry) in s.entries {
                    let key = (entry.machine.state == .closed, name)
                    if let ceiling, !precedes(key, ceiling) { continue }
                    out.append(key)
                }
                return out
            }
            chosen += candidates
            if chosen.count >= 2 * limit {
                chosen.sort(by: precedes)
                chosen.removeLast(chosen.count - limit)
                ceiling = chosen.last
            }
        }
        chosen.sort(by: precedes)
        if chosen.count > limit { chosen.removeLast(chosen.count - limit) }
        var rows: [MetricsRow] = []
        rows.reserveCapacity(chosen.count)
        for (_, name) in chosen {
            shards[shardIndex(for: name)].state.withLock { s in
                guard let entry = s.entries[name] else { return }
                let (calls, failures) = entry.machine.window.totals(now: clock.now)
                rows.append(
                    MetricsRow(resource: name, state: entry.machine.state, windowCalls: calls, windowFailures: failures)
                )
            }
        }
        return rows
    }
}
