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

    /// What `restore` did: the forces that will end by themselves (with the instant they end, for the event
    /// loops' timers), and the largest step of the wall clock seen (stored deadlines beyond their cooldown or
    /// TTL), in ms.
    struct Restored {
        var expiring: [(resource: String, at: MonotonicInstant)] = []
        var clockStepMs: Int64 = 0
        var clockStepResource: String?
    }

    /// Loads stored breakers (before the server starts). Stored deadlines are wall-clock instants: what is left
    /// of a cooldown or a force TTL is clamped to the cooldown or TTL itself, so that a wall clock that was
    /// ahead when they were written (and stepped back since) cannot stretch them; a deadline already past
    /// counts as elapsed (`PersistedBreaker.remaining(atWallMs:)`). Each breaker's cooldown jitter gets a fresh
    /// random seed.
    func restore(_ rows: [PersistedBreaker], history: [String: [TransitionRecord]]) -> Restored {
        var restored = Restored()
        let now = clock.now
        let wall = wallClock()
        for row in rows {
            let left = row.remaining(atWallMs: wall)
            if left.clockStepMs > restored.clockStepMs {
                restored.clockStepMs = left.clockStepMs
                restored.clockStepResource = row.resource
            }
            let force = row.forced.map {
                BreakerForce(
                    target: $0.target,
                    reason: $0.reason,
                    by: $0.by,
                    until: left.force.map { now + $0 },
                    ttl: $0.ttlMs.map { .milliseconds($0) }
                )
            }
            let window = OutcomeWindow(
                for: row.policy,
                decoding: row.window,
                now: now,
                elapsed: .milliseconds(max(0, wall - row.savedAtMs))
            )
            let machine = BreakerStateMachine(
                restoring: row.state,
                policy: row.policy,
                generation: row.generation,
                changedAt: now,
                openUntil: now + (left.cooldown ?? .zero),
                force: force,
                window: window,
                nextPermitSequence: row.nextPermitSequence &+ Self.permitSequenceGapOnRestore,
                currentCooldown: row.currentCooldown,
                randomSeed: Self.randomSeed()
            )
            var entry = BreakerEntry(machine: machine, changedAtMs: row.changedAtMs, dirty: false)
            for r in (history[row.resource] ?? []).suffix(BreakerEntry.recentTransitionsInMemory) { entry.record(r) }
            entry.changedAtMs = row.changedAtMs
            shards[shardIndex(for: row.resource)].state.withLock { $0.entries[row.resource] = entry }
            if let until = force?.until { restored.expiring.append((row.resource, until)) }
        }
        count.store(rows.count, ordering: .relaxed)
        return restored
    }

    /// The row that stores `entry`: deadlines as wall-clock times.
    func persisted(_ resource: String, _ entry: BreakerEntry, now: MonotonicInstant, wall: Int64) -> PersistedBreaker {
        let m = entry.machine
        func wallTime(_ instant: MonotonicInstant) -> Int64 { wall + (instant - now).millisecondsRoundedUp }
        return PersistedBreaker(
            resource: resource,
            policy: m.policy,
            state: m.state,
            generation: m.generation,
            nextPermitSequence: m.nextPermitSequence,
            openUntilMs: m.state == .open ? wallTime(m.openUntil) : nil,
            forced: m.force.map {
                PersistedBreaker.Forced(
                    target: $0.target,
                    reason: $0.reason,
                    by: $0.by,
                    untilMs: $0.until.map(wallTime),
                    ttlMs: $0.ttl?.millisecondsRoundedUp
                )
            },
            changedAtMs: entry.changedAtMs,
            window: m.window.encoded(now: now),
            savedAtMs: wall,
            cooldownCurrentMs: m.currentCooldown == m.policy.cooldown ? nil : m.currentCooldown.millisecondsRoundedUp
        )
    }
}
