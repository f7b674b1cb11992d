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

    /// Sends `event` to every watcher whose prefix its resource starts with (the line is written once, and only
    /// when someone watches it).
    func broadcast(_ event: BreakerEvent) {
        let resource = event.resource
        let keys = watchers.withLock { all in all.compactMap { resource.hasPrefix($0.value) ? $0.key : nil } }
        guard !keys.isEmpty else { return }
        var w = JSONWriter()
        event.write(into: &w)
        for key in keys { deliver(key, w.bytes) }
    }
}
