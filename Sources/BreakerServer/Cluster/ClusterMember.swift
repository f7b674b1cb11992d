import BreakerClock
import BreakerCore
import BreakerEtcd
import BreakerProtocol
import Dispatch
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The cluster thread of a replica (issue #19): campaigns for the leader key, keeps the lease alive, follows
/// the leader, and, on winning, loads every breaker from etcd before the gate opens. It does the I/O that
/// `LeaderElection` asks for and publishes the outcome to the `ClusterGate`.
final class ClusterMember: Sendable {
    let etcd: EtcdClient
    let keys: ClusterKeys
    let advertise: String
    let gate: ClusterGate
    let store: EtcdStore
    private let election: Mutex<LeaderElection>
    private let logger: Logger
    private let wallClock: WallClock
    /// Replaces the registry with what was loaded (a new leader, before it serves).
    private let install: @Sendable ([ClusterRecord]) -> Void
    private let stopping = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)
    private let healthWake = DispatchSemaphore(value: 0)
    private let healthStopped = DispatchSemaphore(value: 0)

    init(
        etcd: EtcdClient,
        clusterName: String,
        advertise: String,
        lease: Duration,
        wallClock: @escaping WallClock,
        logger: Logger,
        install: @escaping @Sendable ([ClusterRecord]) -> Void
    ) {
        self.etcd = etcd
        keys = ClusterKeys(clusterName: clusterName)
        self.advertise = advertise
        gate = ClusterGate()
        gate.setIdentity(advertise: advertise, name: clusterName, lease: lease)
        store = EtcdStore(etcd: etcd, keys: keys, gate: gate)
        election = Mutex(LeaderElection(lease: lease, now: SystemClock.read()))
        self.logger = logger
        self.wallClock = wallClock
        self.install = install
    }

    func start() throws(ServerError) {
        _ = try ServerThread.start(joinable: false) { self.run() }
        _ = try ServerThread.start(joinable: false) { self.watchHealth() }
    }

    /// How often the health thread registers this replica and looks at the others and at etcd's members.
    static let healthInterval = Duration.seconds(2)

    /// The health thread: keeps this replica's key under `replicas/` alive (its own lease, so that the
    /// election's timing never waits for it), and reads the replicas and etcd members' status for `cluster`.
    private func watchHealth() {
        var memberLease: Int64?
        let ttl = max(Int64(Self.healthInterval.nanosecondsClamped / 1_000_000_000) * 3, 2)
        while !stopping.load(ordering: .acquiring) {
            do throws(EtcdError) {
                if let lease = memberLease, try etcd.keepAlive(lease: lease) <= 0 { memberLease = nil }
                if memberLease == nil {
                    let lease = try etcd.grantLease(ttlSeconds: ttl)
                    try etcd.put(keys.replica(advertise), Array(advertise.utf8), lease: lease)
                    memberLease = lease
                }
                let replicas = try etcd.range(keys.replicasPrefix, prefix: true).kvs.map {
                    String(decoding: $0.value, as: UTF8.self)
                }
                gate.setHealth(replicas: replicas, etcd: etcdMembers())
            } catch {
                gate.setHealth(replicas: nil, etcd: etcdMembers())
            }
            _ = healthWake.wait(timeout: .now() + .nanoseconds(Int(Self.healthInterval.nanosecondsClamped)))
        }
        if let memberLease { try? etcd.revoke(lease: memberLease) }
        healthStopped.signal()
    }

    private func etcdMembers() -> [ClusterReply.EtcdMember] {
        zip(etcd.endpoints, etcd.statuses()).map { endpoint, status in
            ClusterReply.EtcdMember(
                endpoint: "\(endpoint.host):\(endpoint.port)",
                healthy: status != nil,
                version: status?.version,
                isLeader: status.map { $0.leader == $0.member } ?? false
            )
        }
    }

    /// Stops campaigning; a leader revokes its lease, so that another replica takes over at once rather than
    /// after the lease. Blocks until the thread has ended (at most the etcd client's timeout).
    func stop() {
        stopping.store(true, ordering: .releasing)
        gate.close()
        wake.signal()
        healthWake.signal()
        stopped.wait()
        healthStopped.wait()
    }

    private func run() {
        var lastProblem: String? = "not asked yet"
        var lastRole = LeaderElection.Role.follower(leader: nil)
        while !stopping.load(ordering: .acquiring) {
            let action = election.withLock { $0.next(now: SystemClock.read()) }
            var renewedAt: Int64?
            do throws(EtcdError) {
                switch action {
                case .wait(let until):
                    let ns = max(0, (until - SystemClock.read()).nanosecondsClamped)
                    _ = wake.wait(timeout: .now() + .nanoseconds(Int(clamping: ns)))
                    continue
                case .campaign:
                    try campaign()
                case .poll:
                    let holder = try etcd.range(keys.leader).kvs.first.map { String(decoding: $0.value, as: UTF8.self) }
                    election.withLock { $0.polled(leader: holder, now: SystemClock.read()) }
                case .load:
                    try load()
                case .renew(let lease):
                    let sentAt = SystemClock.read()
                    let ttl = try etcd.keepAlive(lease: lease)
                    if ttl > 0 {
                        election.withLock { $0.renewed(sentAt: sentAt, now: SystemClock.read()) }
                        renewedAt = wallClock()
                    } else {
                        logger.warning("the leader's lease is gone in etcd; stepping down")
                        election.withLock { $0.deposed(leader: nil, now: SystemClock.read()) }
                    }
                }
                lastProblem = nil
            } catch {
                if error.isUnavailable {
                    if lastProblem != error.message {
                        logger.warning("cannot reach etcd; retrying", metadata: ["error": "\(error.message)"])
                    }
                    lastProblem = error.message
                    election.withLock { $0.unreachable(now: SystemClock.read()) }
                } else {
                    // An answer etcd gave (a lease it no longer knows): start over as a follower.
                    logger.warning("etcd refused; stepping down", metadata: ["error": "\(error.message)"])
                    lastProblem = error.message
                    election.withLock { $0.deposed(leader: nil, now: SystemClock.read()) }
                }
            }
            let state = election.withLock { $0 }
            // The gate closes as soon as the serving window has passed, even while etcd is not answering.
            gate.update(state, etcdProblem: lastProblem, renewedAtMs: renewedAt)
            if case .leader = lastRole, case .follower = state.role {
                // What this replica held is stale now: the next leader term loads it afresh from etcd.
                install([])
            }
            if state.role != lastRole {
                logger.notice(
                    "cluster role changed",
                    metadata: ["role": "\(gate.snapshot.role)", "leader": "\(gate.snapshot.leader ?? "unknown")"]
                )
                lastRole = state.role
            }
        }
        let lease = election.withLock { $0.leaseID }
        gate.close()
        if let lease {
            // A clean hand-over: the key goes with the lease, and a follower campaigns within its poll.
            try? etcd.revoke(lease: lease)
            logger.notice("left the leadership (lease revoked)")
        }
        stopped.signal()
    }

    private func campaign() throws(EtcdError) {
        let election = election.withLock { $0 }
        let ttl = Int64((election.lease.nanosecondsClamped + 999_999_999) / 1_000_000_000)
        let sentAt = SystemClock.read()
        let lease = try etcd.grantLease(ttlSeconds: max(ttl, 1))
        let result: EtcdClient.TxnResult
        do {
            result = try etcd.txn(
                [.createRevision(key: keys.leader, equals: 0)],
                success: [.put(key: keys.leader, value: Array(advertise.utf8), lease: lease)],
                failure: [.range(key: keys.leader)]
            )
        } catch {
            try? etcd.revoke(lease: lease)
            throw error
        }
        if result.succeeded {
            logger.notice("won the election; loading the breakers from etcd", metadata: ["lease": "\(lease)"])
            self.election.withLock {
                $0.won(lease: lease, revision: result.revision, sentAt: sentAt, now: SystemClock.read())
            }
        } else {
            try? etcd.revoke(lease: lease)
            let holder = result.ranges.first?.first.map { String(decoding: $0.value, as: UTF8.self) }
            self.election.withLock { $0.lost(to: holder, now: SystemClock.read()) }
        }
    }

    private func load() throws(EtcdError) {
        let started = SystemClock.read()
        let (records, unreadable) = try store.load()
        for problem in unreadable.prefix(10) {
            logger.error(
                "a stored breaker cannot be read; it is left in etcd and not served",
                metadata: ["error": "\(problem)"]
            )
        }
        install(records)
        election.withLock { $0.loaded(now: SystemClock.read()) }
        logger.notice(
            "leading: breakers loaded from etcd",
            metadata: ["breakers": "\(records.count)", "ms": "\((SystemClock.read() - started).millisecondsRoundedUp)"]
        )
    }
}
