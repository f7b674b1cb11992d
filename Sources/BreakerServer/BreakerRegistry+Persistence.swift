import BreakerCore
import BreakerProtocol
import BreakerStore

extension BreakerRegistry {
    /// The breakers changed since the last call (or all of them), as rows to store, taken shard by shard (each
    /// shard locked only while it is copied). Their changed marks are cleared.
    func persistedRows(all: Bool) -> [PersistedBreaker] {
        var rows: [PersistedBreaker] = []
        for shard in shards {
            shard.state.withLock { s in
                let now = clock.now
                let wall = wallClock()
                var i = s.entries.values.startIndex
                while i != s.entries.values.endIndex {
                    if all || s.entries.values[i].dirty {
                        s.entries.values[i].dirty = false
                        rows.append(persisted(s.entries.keys[i], s.entries.values[i], now: now, wall: wall))
                    }
                    s.entries.values.formIndex(after: &i)
                }
            }
        }
        return rows
    }

    /// Loads stored breakers (before the server starts). Returns the forces that will end by themselves, with
    /// the instant they end, for the event loops' timers.
    func restore(_ rows: [PersistedBreaker], history: [String: [TransitionRecord]]) -> [(String, MonotonicInstant)] {
        var expiring: [(String, MonotonicInstant)] = []
        let now = clock.now
        let wall = wallClock()
        func instant(_ ms: Int64?) -> MonotonicInstant? { ms.map { now + .milliseconds(max(0, $0 - wall)) } }
        for row in rows {
            let force = row.forced.map {
                BreakerForce(target: $0.target, reason: $0.reason, by: $0.by, until: instant($0.untilMs))
            }
            let window = OutcomeWindow(
                row.policy.window, decoding: row.window, now: now, elapsed: .milliseconds(max(0, wall - row.savedAtMs)))
            let machine = BreakerStateMachine(
                restoring: row.state, policy: row.policy, generation: row.generation, changedAt: now,
                openUntil: instant(row.openUntilMs) ?? now, force: force, window: window,
                nextPermitSequence: row.nextPermitSequence &+ Self.permitSequenceGapOnRestore)
            var entry = BreakerEntry(machine: machine, changedAtMs: row.changedAtMs, dirty: false)
            for r in (history[row.resource] ?? []).suffix(TransitionRecord.retentionLimit) { entry.record(r) }
            entry.changedAtMs = row.changedAtMs
            shards[shardIndex(for: row.resource)].state.withLock { $0.entries[row.resource] = entry }
            if let until = force?.until { expiring.append((row.resource, until)) }
        }
        count.store(rows.count, ordering: .relaxed)
        return expiring
    }

    /// The row that stores `entry`: deadlines as wall-clock times.
    func persisted(_ resource: String, _ entry: BreakerEntry, now: MonotonicInstant, wall: Int64) -> PersistedBreaker {
        let m = entry.machine
        func wallTime(_ instant: MonotonicInstant) -> Int64 { wall + (instant - now).millisecondsRoundedUp }
        return PersistedBreaker(
            resource: resource, policy: m.policy, state: m.state, generation: m.generation,
            nextPermitSequence: m.nextPermitSequence, openUntilMs: m.state == .open ? wallTime(m.openUntil) : nil,
            forced: m.force.map {
                PersistedBreaker.Forced(
                    target: $0.target, reason: $0.reason, by: $0.by, untilMs: $0.until.map(wallTime))
            },
            changedAtMs: entry.changedAtMs, window: m.window.encoded(now: now), savedAtMs: wall)
    }
}
