import BreakerClock
import BreakerCore
import BreakerProtocol
import BreakerStore
import Dispatch
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The one thread that writes the database. Durable changes queue here; each pass writes everything queued
/// in one transaction (group commit) and then releases the replies that waited for it. Snapshots run on this
/// thread too, every `snapshotInterval`: one transaction with every breaker changed since the last snapshot
/// (all of them after a failed one), so no event loop ever waits for one (only replies held for a commit may
/// wait while a snapshot transaction is open).
final class DurableWriter: Sendable {
    /// What the last snapshot did, for `stats`.
    struct SnapshotStats: Sendable {
        var atMs: Int64?
        var durationMs: Int64 = 0
        /// How long the last successful snapshot took, in seconds.
        var lastSnapshotSeconds = 0.0
        var rows = 0
        var count = 0
        var failures = 0
        var commits = 0
        var commitFailures = 0
        /// How long each commit of changes took (the transaction, not the wait for it).
        var commitDurations = DurationHistogram()
        /// Why the most recent write to the database (a commit or a snapshot) failed; nil once one succeeds.
        var lastWriteFailure: String?
    }

    private struct Queue: Sendable {
        var changes: [StoreChange] = []
        var waiters: [ConnectionKey] = []
        var stopping = false
        var snapshotRequested = false
    }

    private let store: any DurableStore
    private let queue = Mutex(Queue())
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)
    private let snapshotInterval: Duration
    private let rows: @Sendable (_ all: Bool) -> [PersistedBreaker]
    /// Set after a failed snapshot: the next one writes every breaker.
    private let nextSnapshotIsFull = Atomic<Bool>(false)
    private let release: @Sendable (ConnectionKey, _ failure: ProtocolError?) -> Void
    private let wallClock: WallClock
    private let logger: Logger
    private let snapshotStats = Mutex(SnapshotStats())
    private let threadHandle = Mutex<pthread_t?>(nil)
    /// What the final snapshot or checkpoint could not save, set when the writer stops.
    private let finalFailure = Mutex<String?>(nil)

    /// - Parameters:
    ///   - rows: the breakers changed since the last call, or all of them, as rows (for snapshots).
    ///   - release: hands a commit's outcome to the waiting connection's event loop.
    init(
        store: any DurableStore,
        snapshotInterval: Duration,
        wallClock: @escaping WallClock,
        logger: Logger,
        rows: @escaping @Sendable (_ all: Bool) -> [PersistedBreaker],
        release: @escaping @Sendable (ConnectionKey, ProtocolError?) -> Void
    ) {
        self.store = store
        self.snapshotInterval = snapshotInterval
        self.wallClock = wallClock
        self.logger = logger
        self.rows = rows
        self.release = release
    }

    /// Queues a change; `waiter` is released after the transaction holding it commits.
    func enqueue(_ change: StoreChange, waiter: ConnectionKey?) {
        let first = queue.withLock { q -> Bool in
            q.changes.append(change)
            if let waiter { q.waiters.append(waiter) }
            return q.changes.count == 1
        }
        if first { wake.signal() }
    }

    var stats: SnapshotStats { snapshotStats.withLock { $0 } }

    /// Starts the writer's thread. Snapshots and commits run on real time even when the breakers' clock is a
    /// test's manual one.
    func start() throws(ServerError) {
        let thread = try ServerThread.start(joinable: true) { self.run() }
        threadHandle.withLock { $0 = thread }
    }

    /// Writes what is queued, takes a last snapshot, and stops. Blocks until done. Returns what could not be
    /// saved (nil when everything was).
    @discardableResult
    func stop() -> String? {
        queue.withLock { $0.stopping = true }
        wake.signal()
        stopped.wait()
        // Join the thread, so that it no longer holds the writer (and the store's lock on the database file)
        // once this returns: a server started next on the same file finds it free.
        if let thread = threadHandle.withLock({ $0.take() }) { pthread_join(thread, nil) }
        return finalFailure.withLock { $0 }
    }

    /// Asks for a snapshot of every breaker as soon as the writer is free (operators: SIGUSR1).
    func requestFullSnapshot() {
        nextSnapshotIsFull.store(true, ordering: .relaxed)
        queue.withLock { $0.snapshotRequested = true }
        wake.signal()
    }

    private func run() {
        var nextSnapshot = SystemClock.read() + snapshotInterval
        while true {
            let wait = nextSnapshot - SystemClock.read()
            if wait > .zero {
                _ = wake.wait(timeout: .now() + .nanoseconds(Int(clamping: wait.nanosecondsClamped)))
            }
            let (changes, waiters, stopping, requested) = queue.withLock {
                q -> ([StoreChange], [ConnectionKey], Bool, Bool) in
                defer {
                    q.changes.removeAll(keepingCapacity: true)
                    q.waiters.removeAll(keepingCapacity: true)
                    q.snapshotRequested = false
                }
                return (q.changes, q.waiters, q.stopping, q.snapshotRequested)
            }
            if !changes.isEmpty { commit(changes, waiters) }
            if stopping {
                var problems: [String] = []
                if !snapshot() {
                    problems.append(
                        "the last snapshot failed: window counts since the previous one are not saved "
                            + "(acknowledged changes are)"
                    )
                }
                do {
                    try store.checkpoint()
                } catch {
                    problems.append(
                        "the checkpoint failed (\(error)); the WAL file next to the database holds the rest"
                    )
                }
                finalFailure.withLock { $0 = problems.isEmpty ? nil : problems.joined(separator: "; ") }
                stopped.signal()
                return
            }
            if requested || SystemClock.read() >= nextSnapshot {
                snapshot()
                nextSnapshot = SystemClock.read() + snapshotInterval
            }
        }
    }

    private func commit(_ changes: [StoreChange], _ waiters: [ConnectionKey]) {
        var failure: ProtocolError?
        let start = SystemClock.read()
        do {
            try store.apply(changes)
            let took = SystemClock.read() - start
            snapshotStats.withLock {
                $0.commits += 1
                $0.commitDurations.record(took)
                $0.lastWriteFailure = nil
            }
        } catch {
            failure = error.protocolError
            logger.error("database write failed; \(changes.count) change(s) not saved", metadata: ["error": "\(error)"])
            let took = SystemClock.read() - start
            snapshotStats.withLock {
                $0.commitFailures += 1
                $0.commitDurations.record(took)
                $0.lastWriteFailure = "a commit failed: \(error)"
            }
        }
        for key in waiters { release(key, failure) }
    }

    @discardableResult
    private func snapshot() -> Bool {
        let start = SystemClock.read()
        let all = rows(nextSnapshotIsFull.exchange(false, ordering: .relaxed))
        do {
            try store.snapshot(all)
            let ms = (SystemClock.read() - start).millisecondsRoundedUp
            snapshotStats.withLock {
                $0.atMs = wallClock()
                $0.durationMs = ms
                $0.rows = all.count
                $0.count += 1
                $0.lastSnapshotSeconds = (SystemClock.read() - start).inSeconds
                // A snapshot that wrote no row proves nothing about the disk.
                if !all.isEmpty { $0.lastWriteFailure = nil }
            }
            logger.debug("snapshot", metadata: ["rows": "\(all.count)", "ms": "\(ms)"])
            return true
        } catch {
            nextSnapshotIsFull.store(true, ordering: .relaxed)
            snapshotStats.withLock {
                $0.failures += 1
                $0.lastWriteFailure = "a snapshot failed: \(error)"
            }
            logger.error("snapshot failed", metadata: ["error": "\(error)", "rows": "\(all.count)"])
            return false
        }
    }
}
