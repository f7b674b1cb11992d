import BreakerProtocol
import Synchronization

/// Hands registry changes on, to watchers and to the durable writer, in the order they happened.
///
/// The registry numbers each shard's changes under the shard's lock; two event loops may still reach
/// `publish` in the other order. Each shard keeps the changes that arrived early until the ones before them
/// are in, and whoever finds the next one ready drains the run (outside the lock), so one resource's
/// transitions reach every watcher, and its rows reach the database, in order.
final class ChangePublisher: Sendable {
    private struct Pending: Sendable {
        var change: BreakerChange
        var waiter: ConnectionKey?
    }

    private struct ShardQueue: Sendable {
        var next: UInt64 = 0
        var early: [UInt64: Pending] = [:]
        var draining = false

        /// Removes and returns the changes that are next in order.
        mutating func takeReady() -> [Pending] {
            var ready: [Pending] = []
            while let p = early.removeValue(forKey: next) {
                ready.append(p)
                next &+= 1
            }
            return ready
        }
    }

    private final class Queue: Sendable {
        let state = Mutex(ShardQueue())
    }

    private let queues: [Queue]
    private let deliver: @Sendable (BreakerChange, ConnectionKey?) -> Void

    /// - Parameters:
    ///   - shards: the registry's shard count.
    ///   - deliver: hands one change on (called in each shard's order, never under a lock here).
    init(shards: Int, deliver: @escaping @Sendable (BreakerChange, _ waiter: ConnectionKey?) -> Void) {
        self.queues = (0..<shards).map { _ in Queue() }
        self.deliver = deliver
    }

    /// Publishes `change`; `waiter` is the connection whose reply waits for the change's commit.
    func publish(_ change: BreakerChange, waiter: ConnectionKey?) {
        let queue = queues[change.shard]
        var batch = queue.state.withLock { q -> [Pending] in
            q.early[change.sequence] = Pending(change: change, waiter: waiter)
            guard !q.draining else { return [] }
            let ready = q.takeReady()
            if !ready.isEmpty { q.draining = true }
            return ready
        }
        while !batch.isEmpty {
            for p in batch { deliver(p.change, p.waiter) }
            batch = queue.state.withLock { q -> [Pending] in
                let ready = q.takeReady()
                if ready.isEmpty { q.draining = false }
                return ready
            }
        }
    }
}
