import BreakerClock
import BreakerCore
import BreakerProtocol
import CBreakerSystem
import Dispatch
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Event subscriptions and the one `watch` they share on the connection.
extension ClientCore {
    // MARK: Subscriptions

    /// Adds a subscriber and updates the server's watch.
    func subscribe(
        prefix: String,
        handler: @escaping @Sendable (BreakerEvent) -> Void,
        finish: (@Sendable () -> Void)? = nil
    ) -> UInt64 {
        let (id, needsWake) = state.withLock { s -> (UInt64, Bool) in
            let id = s.nextSubscriber
            s.nextSubscriber += 1
            s.subscribers[id] = Subscriber(prefix: prefix, handler: handler, finish: finish)
            return (id, updateWatch(&s))
        }
        if needsWake { wake() }
        return id
    }

    /// Ends a subscription and updates the server's watch.
    func unsubscribe(_ id: UInt64) {
        let needsWake = state.withLock { s -> Bool in
            s.subscribers.removeValue(forKey: id)
            return updateWatch(&s)
        }
        if needsWake { wake() }
    }

    /// Asks the server, when connected, to watch the longest common prefix of the subscribers' prefixes (or
    /// nothing). Under the state lock, so that watch requests leave in the order the state changed. Returns
    /// whether the I/O thread must be woken.
    func updateWatch(_ s: inout State) -> Bool {
        let wanted = Self.commonPrefix(s.subscribers.values.map(\.prefix))
        guard wanted != s.watchRequested, s.fd >= 0, !s.closed else { return false }
        s.watchRequested = wanted
        let connection = s.connections
        let waiter = Waiter(timeout: nil) { [weak self] result in
            self?.watchAnswered(wanted, connection: connection, result)
        }
        let operation: Request.Operation = wanted.map { .watch(prefix: $0) } ?? .unwatch
        guard case .success((_, let needsWake)) = Self.enqueue(operation, waiter: waiter, in: &s, configuration) else {
            return false
        }
        return needsWake
    }

    /// Records what the server now watches on this connection, and ends the waits that it satisfies.
    func watchAnswered(_ prefix: String?, connection: Int, _ result: Result<JSONValue, BreakerClientError>) {
        // A failure (the connection was lost) needs nothing: the next connection asks again.
        guard case .success(let reply) = result else { return }
        if reply["ok"] == .bool(false) {
            logger.warning(
                "breakerd refused to watch; no events will arrive",
                metadata: [
                    "prefix": "\(prefix ?? "-")", "error": "\((try? ProtocolError(json: reply))?.description ?? "?")",
                ]
            )
            return
        }
        let done = state.withLock { s -> [Waiter] in
            guard s.connections == connection else { return [] }
            s.watchAcknowledged = prefix
            return Self.takeSatisfied(&s)
        }
        for w in done { w.complete(.success(.null)) }
    }

    static func commonPrefix(_ prefixes: [String]) -> String? {
        guard var common = prefixes.first else { return nil }
        for p in prefixes.dropFirst() {
            common = String(zip(common, p).prefix { $0 == $1 }.map(\.0))
        }
        return common
    }
}
