import BreakerClock
import BreakerCore
import BreakerProtocol
import Synchronization

/// What the event loops and the durable writer need to know of the election (cluster mode, issue #19), read
/// without a lock on the request path: until when this replica may serve (on the real monotonic clock), the
/// leader key's revision its writes are conditioned on, and the leader's address for `not_leader` replies.
/// Written by the cluster thread only.
final class ClusterGate: Sendable {
    /// Nanoseconds of `SystemClock` until which this replica serves; `Int64.min`: it does not.
    private let servingUntil = Atomic<Int64>(.min)
    /// The leader key's create revision while this replica leads (0: it does not).
    private let revisionValue = Atomic<Int64>(0)
    private let details = Mutex(Details())

    struct Details: Sendable {
        /// The leader's `--advertise` address, when known.
        var leader: String?
        /// This replica's own address.
        var advertise = ""
        /// What the replica is, for `cluster` and the logs: "leader", "leader (loading)", "follower".
        var role = "follower"
        /// Why etcd could not be reached the last time (nil: it answered).
        var etcdProblem: String? = "not asked yet"
        /// When the lease was last renewed, in wall-clock ms.
        var renewedAtMs: Int64?
        var lease: Int64?
        /// `--cluster-name` and `--leader-lease` (ms).
        var name = ""
        var leaseMs: Int64 = 0
        /// The replicas registered in etcd, and etcd's members, as last seen (every few seconds).
        var replicas: [ClusterReply.Replica] = []
        var etcdMembers: [ClusterReply.EtcdMember] = []
    }

    /// True while this replica may decide: checked for every request of a cluster replica.
    @inline(__always)
    func mayServe() -> Bool { SystemClock.read().nanoseconds < servingUntil.load(ordering: .acquiring) }

    /// The revision a durable write is conditioned on; nil when this replica does not lead.
    var revision: Int64? {
        let r = revisionValue.load(ordering: .acquiring)
        return r == 0 ? nil : r
    }

    var snapshot: Details { details.withLock { $0 } }

    /// The error for a request this replica may not serve.
    func notLeader() -> ProtocolError {
        let leader = details.withLock { $0.leader }
        let message =
            leader.map { "this replica is not the leader: ask \($0)" }
            ?? "this replica is not the leader, and no leader is known yet (an election is under way, or etcd cannot be reached): try another replica"
        return ProtocolError(.notLeader, message, leader: leader)
    }

    /// Publishes the election's state (the cluster thread, after every step).
    func update(_ election: LeaderElection, etcdProblem: String?, renewedAtMs: Int64?) {
        let until = election.role == .leader(loaded: true) ? (election.servingUntil?.nanoseconds ?? .min) : .min
        revisionValue.store(election.revision ?? 0, ordering: .releasing)
        servingUntil.store(until, ordering: .releasing)
        details.withLock {
            switch election.role {
            case .leader(let loaded):
                $0.role = loaded ? "leader" : "leader (loading)"
                $0.leader = $0.advertise
            case .follower(let leader):
                $0.role = "follower"
                $0.leader = leader
            }
            $0.etcdProblem = etcdProblem
            if let renewedAtMs { $0.renewedAtMs = renewedAtMs }
            $0.lease = election.leaseID
        }
    }

    func setIdentity(advertise: String, name: String, lease: Duration) {
        details.withLock {
            $0.advertise = advertise
            $0.name = name
            $0.leaseMs = lease.millisecondsRoundedUp
        }
    }

    /// The replicas and etcd's members, as the health thread last saw them.
    func setHealth(replicas: [String]?, etcd: [ClusterReply.EtcdMember]) {
        details.withLock { d in
            if let replicas {
                d.replicas = replicas.sorted().map {
                    ClusterReply.Replica(address: $0, role: $0 == d.leader ? "leader" : "follower")
                }
            }
            d.etcdMembers = etcd
        }
    }

    /// The answer to `cluster`.
    func reply() -> ClusterReply {
        let d = snapshot
        return ClusterReply(
            mode: "cluster",
            name: d.name,
            replica: d.advertise,
            role: d.role,
            leader: d.leader,
            leaseMs: d.leaseMs,
            renewedAtMs: d.renewedAtMs,
            etcdProblem: d.etcdProblem,
            replicas: d.replicas.map {
                ClusterReply.Replica(address: $0.address, role: $0.address == d.leader ? "leader" : "follower")
            },
            etcd: d.etcdMembers
        )
    }

    /// Stops serving at once (shutdown).
    func close() { servingUntil.store(.min, ordering: .releasing) }
}
