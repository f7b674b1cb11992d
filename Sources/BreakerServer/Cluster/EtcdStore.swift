import BreakerCore
import BreakerEtcd
import BreakerStore
import Synchronization

/// Cluster mode's durable store (issue #19): every breaker is one key in etcd, written in transactions
/// conditioned on the leader key's create revision, so a deposed leader's write fails (its client gets
/// `not_leader`) instead of overwriting the new leader's state.
///
/// Keys: `/highway-breaker/NAME/leader` (the leader's address, under its lease) and
/// `/highway-breaker/NAME/breakers/RESOURCE` (a `ClusterRecord`). A transaction holds at most
/// `maximumOperations` puts and deletes (etcd's `--max-txn-ops` defaults to 128), and one breaker's record is a
/// few hundred bytes, far under etcd's 1.5 MiB request limit.
final class EtcdStore: DurableStore {
    let etcd: EtcdClient
    let keys: ClusterKeys
    let gate: ClusterGate
    /// Each breaker's newest transitions, as stored with it: only the leader writes, and it loaded them.
    private let recent = Mutex<[String: [TransitionRecord]]>([:])

    /// The most operations in one transaction.
    static let maximumOperations = 100

    init(etcd: EtcdClient, keys: ClusterKeys, gate: ClusterGate) {
        self.etcd = etcd
        self.keys = keys
        self.gate = gate
    }

    func apply(_ changes: [StoreChange]) throws(DurableStoreError) {
        // The last row of each resource, with every transition the batch adds to it, in order.
        var operations: [EtcdClient.Operation] = []
        var latest: [String: Int] = [:]
        recent.withLock { recent in
            for change in changes {
                switch change {
                case .save(let row, let transitions):
                    var kept = recent[row.resource] ?? []
                    kept.append(contentsOf: transitions)
                    if kept.count > BreakerEntry.recentTransitionsInMemory {
                        kept.removeFirst(kept.count - BreakerEntry.recentTransitionsInMemory)
                    }
                    recent[row.resource] = kept
                    let put = EtcdClient.Operation.put(
                        key: keys.breaker(row.resource),
                        value: ClusterRecord(row: row, recent: kept).encoded(),
                        lease: nil
                    )
                    if let at = latest[row.resource] {
                        operations[at] = put
                    } else {
                        latest[row.resource] = operations.count
                        operations.append(put)
                    }
                case .delete(let resource):
                    recent[resource] = nil
                    let delete = EtcdClient.Operation.delete(key: keys.breaker(resource), prefix: false)
                    if let at = latest[resource] {
                        operations[at] = delete
                    } else {
                        latest[resource] = operations.count
                        operations.append(delete)
                    }
                }
            }
        }
        try write(operations)
    }

    func snapshot(_ rows: [PersistedBreaker]) throws(DurableStoreError) {
        let operations = recent.withLock { recent in
            rows.map {
                EtcdClient.Operation.put(
                    key: keys.breaker($0.resource),
                    value: ClusterRecord(row: $0, recent: recent[$0.resource] ?? []).encoded(),
                    lease: nil
                )
            }
        }
        try write(operations)
    }

    func checkpoint() throws(DurableStoreError) {}

    /// Every stored breaker (a new leader, before it serves); remembers their transitions.
    func load() throws(EtcdError) -> (records: [ClusterRecord], unreadable: [ClusterRecordError]) {
        let (kvs, _) = try etcd.range(keys.breakersPrefix, prefix: true)
        var records: [ClusterRecord] = []
        var unreadable: [ClusterRecordError] = []
        records.reserveCapacity(kvs.count)
        for kv in kvs {
            let resource = String(kv.key.dropFirst(keys.breakersPrefix.count))
            do {
                records.append(try ClusterRecord(resource: resource, bytes: kv.value))
            } catch {
                unreadable.append(error)
            }
        }
        recent.withLock { recent in
            recent.removeAll(keepingCapacity: true)
            for r in records where !r.recent.isEmpty { recent[r.row.resource] = r.recent }
        }
        return (records, unreadable)
    }

    /// Writes `operations` in transactions conditioned on this replica's leadership.
    private func write(_ operations: [EtcdClient.Operation]) throws(DurableStoreError) {
        guard !operations.isEmpty else { return }
        guard let revision = gate.revision else { throw .notLeader(leader: gate.snapshot.leader) }
        var start = 0
        while start < operations.count {
            let end = min(start + Self.maximumOperations, operations.count)
            let result: EtcdClient.TxnResult
            do {
                result = try etcd.txn(
                    [.createRevision(key: keys.leader, equals: revision)],
                    success: Array(operations[start..<end]),
                    failure: [.range(key: keys.leader)]
                )
            } catch {
                throw .failed("etcd: \(error.message)")
            }
            guard result.succeeded else {
                let holder = result.ranges.first?.first.map { String(decoding: $0.value, as: UTF8.self) }
                throw .notLeader(leader: holder)
            }
            start = end
        }
    }
}

/// The etcd keys of one cluster (`--cluster-name`).
struct ClusterKeys: Sendable {
    let root: String

    init(clusterName: String) { root = "/highway-breaker/\(clusterName)/" }

    var leader: String { root + "leader" }
    var breakersPrefix: String { root + "breakers/" }
    var replicasPrefix: String { root + "replicas/" }

    func replica(_ advertise: String) -> String { replicasPrefix + advertise }

    func breaker(_ resource: String) -> String { breakersPrefix + resource }
}
