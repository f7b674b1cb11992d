import BreakerProtocol
import Synchronization

/// Who watches which prefix, and delivery of event lines to them through their event loops.
final class WatcherHub: Sendable {
    private let watchers = Mutex<[ConnectionKey: String]>([:])
    private let deliver: @Sendable (ConnectionKey, [UInt8]) -> Void

    /// `deliver` hands an event line to the connection's event loop.
    init(deliver: @escaping @Sendable (ConnectionKey, [UInt8]) -> Void) {
        self.deliver = deliver
    }

    func watch(_ key: ConnectionKey, prefix: String) {
        watchers.withLock { $0[key] = prefix }
    }

    func unwatch(_ key: ConnectionKey) {
        _ = watchers.withLock { $0.removeValue(forKey: key) }
    }

    var count: Int { watchers.withLock { $0.count } }

    /// Sends `line` to every watcher whose prefix `resource` starts with.
    func broadcast(resource: String, line: [UInt8]) {
        watchers.withLock { all in
            for (key, prefix) in all where resource.hasPrefix(prefix) { deliver(key, line) }
        }
    }
}
