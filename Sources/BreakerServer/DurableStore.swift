import BreakerProtocol
import BreakerStore

/// Where the durable writer saves changes and snapshots: the SQLite file of a single server
/// (`BreakerStore`), or etcd in cluster mode (`EtcdStore`). The writer's one thread is the only caller.
protocol DurableStore: Sendable {
    /// Saves `changes` (in order) before their replies go out.
    func apply(_ changes: [StoreChange]) throws(DurableStoreError)
    /// Saves the rows of a snapshot (window counts and everything else).
    func snapshot(_ rows: [PersistedBreaker]) throws(DurableStoreError)
    /// Makes what was saved durable on its own (SQLite: a WAL checkpoint at shutdown).
    func checkpoint() throws(DurableStoreError)
}

/// Why a store did not save: its own failure (the message says what), or, in cluster mode, this replica is
/// no longer the leader (a deposed leader's write fails, and its client is told where to go).
enum DurableStoreError: Error, Sendable, CustomStringConvertible {
    case failed(String)
    case notLeader(leader: String?)

    var description: String {
        switch self {
        case .failed(let message): message
        case .notLeader(let leader):
            "this replica is no longer the leader" + (leader.map { " (the leader: \($0))" } ?? "")
        }
    }

    /// The error a client whose change was not saved gets.
    var protocolError: ProtocolError {
        switch self {
        case .failed(let message):
            ProtocolError(.internalError, "the change could not be saved to the database: \(message)")
        case .notLeader(let leader):
            ProtocolError(
                .notLeader,
                "this replica lost its leadership before the change was saved; nothing was changed: ask the leader",
                leader: leader
            )
        }
    }
}

/// A single server's store: its SQLite file.
struct SQLiteDurableStore: DurableStore {
    let store: BreakerStore

    func apply(_ changes: [StoreChange]) throws(DurableStoreError) {
        do {
            try store.apply(changes)
        } catch {
            throw .failed("\(error)")
        }
    }

    func snapshot(_ rows: [PersistedBreaker]) throws(DurableStoreError) {
        do {
            try store.snapshot(rows)
        } catch {
            throw .failed("\(error)")
        }
    }

    func checkpoint() throws(DurableStoreError) {
        do {
            try store.checkpoint()
        } catch {
            throw .failed("\(error)")
        }
    }
}
